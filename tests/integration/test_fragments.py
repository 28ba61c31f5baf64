"""The shared HTML cache: a missing fragment is rendered once however many readers ask for it at once."""
import threading
import time

import pytest

from app.core import fragments
from app.core.fragments import cached_fragment, invalidate


def _readers(app, count, render, name="page"):
    results, errors = [], []
    start = threading.Barrier(count)

    def read():
        with app.app_context():
            start.wait()
            try:
                results.append(cached_fragment("test-scope", name, render))
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results, errors


def test_concurrent_readers_of_a_missing_fragment_cause_one_render(app, app_ctx):
    calls = []

    def render():
        calls.append(1)
        time.sleep(0.2)  # long enough that every reader arrives while it runs
        return f"<p>render {len(calls)}</p>"

    results, errors = _readers(app, 12, render)
    assert not errors
    assert calls == [1]
    assert results == ["<p>render 1</p>"] * 12


def test_after_a_write_the_next_readers_render_once_again(app, app_ctx):
    calls = []

    def render():
        calls.append(1)
        time.sleep(0.1)
        return f"<p>render {len(calls)}</p>"

    _readers(app, 5, render)
    invalidate("test-scope")
    results, _ = _readers(app, 5, render)
    assert len(calls) == 2
    assert results == ["<p>render 2</p>"] * 5


def test_a_reader_renders_itself_when_the_claimed_render_never_arrives(app, app_ctx, monkeypatch):
    monkeypatch.setattr(fragments, "WAIT_SECONDS", 0.2)
    redis = app.extensions["redis"]
    # Another process claimed the render and died before storing it.
    redis.set(fragments._RENDER_KEY.format("test-scope", "page:v0"), "1", px=5000)
    started = time.monotonic()
    assert cached_fragment("test-scope", "page", lambda: "<p>mine</p>") == "<p>mine</p>"
    assert time.monotonic() - started >= 0.2
    assert cached_fragment("test-scope", "page", lambda: "<p>again</p>") == "<p>mine</p>"  # stored


def test_a_failed_render_lets_the_next_reader_render_at_once(app, app_ctx):
    def broken():
        raise RuntimeError("template error")

    with pytest.raises(RuntimeError):
        cached_fragment("test-scope", "page", broken)
    started = time.monotonic()
    assert cached_fragment("test-scope", "page", lambda: "<p>fixed</p>") == "<p>fixed</p>"
    assert time.monotonic() - started < fragments.WAIT_SECONDS / 2
