"""in_os_thread: work runs in another OS thread; wait() returns its result or raises its exception."""
import threading

import pytest

from app.core.offload import in_os_thread


def test_work_runs_in_another_thread_and_wait_returns_its_result():
    caller = threading.get_ident()
    wait = in_os_thread(lambda: threading.get_ident())
    assert wait() != caller


def test_wait_raises_the_work_exception():
    def broken():
        raise ValueError("damaged")

    wait = in_os_thread(broken)
    with pytest.raises(ValueError, match="damaged"):
        wait()


def test_under_gevent_work_runs_in_gevents_pool_of_real_threads(monkeypatch):
    pytest.importorskip("gevent")
    from app.core import offload
    monkeypatch.setattr(offload, "_gevent_patched", lambda: True)
    wait = in_os_thread(lambda: (threading.get_ident(), threading.current_thread().name))
    ident, name = wait()
    assert ident != threading.get_ident()
    assert not name.startswith("verdant-offload")  # the hub's pool ran it, not the plain executor


def test_under_gevent_an_exception_reaches_wait_and_nothing_is_printed(monkeypatch, capfd):
    pytest.importorskip("gevent")
    from app.core import offload
    monkeypatch.setattr(offload, "_gevent_patched", lambda: True)

    def broken():
        raise ValueError("damaged")

    wait = in_os_thread(broken)
    with pytest.raises(ValueError, match="damaged") as raised:
        wait()
    assert raised.traceback[-1].name == "broken"  # raised with its own traceback
    in_os_thread(broken)  # left unwaited, as a check started for a photo then re-encoded is
    wait = in_os_thread(lambda: "after")
    assert wait() == "after"
    captured = capfd.readouterr()
    assert "damaged" not in captured.err and "ValueError" not in captured.err
