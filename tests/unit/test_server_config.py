"""The process settings that keep a long-lived web or job process responsive."""
import gc
import os
import runpy
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_gunicorn_worker_freezes_what_loading_the_app_made():
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    gc.unfreeze()
    try:
        settings["post_worker_init"](None)
        # Everything alive now, the loaded app included, is out of the collector's full passes.
        assert gc.get_freeze_count() > 1000
    finally:
        gc.unfreeze()
    assert settings["worker_class"] == "gevent"


@contextmanager
def _probe_server(tmp_path, env: dict) -> Iterator[bytes | None]:
    """Run a real gunicorn gevent worker with these settings; yield what it answers to GET /."""
    (tmp_path / "probe_app.py").write_text(
        "import gevent\n"
        "def app(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [repr(getattr(gevent.getcurrent(), 'spawning_stack', None)).encode()]\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**env, "PYTHONPATH": str(tmp_path)}
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "--config", str(ROOT / "gunicorn.conf.py"),
                               "--bind", f"127.0.0.1:{port}", "--workers", "1", "probe_app:app"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        body = None
        deadline = time.monotonic() + 30
        while body is None and time.monotonic() < deadline:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read()
            except OSError:
                time.sleep(0.2)
        yield body
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_gunicorn_workers_record_no_spawning_stacks(tmp_path):
    # Ask a greenlet of a real worker what it recorded.
    env = {k: v for k, v in os.environ.items() if k != "GEVENT_TRACK_GREENLET_TREE"}
    with _probe_server(tmp_path, env) as body:
        assert body == b"None"


def test_gunicorn_opens_no_control_socket(tmp_path):
    # gunicorn 25+ opens a control socket at one fixed path per user, by default: two sites (or a
    # benchmark's two servers) on one host would take it from each other, and nothing here uses it.
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "XDG_RUNTIME_DIR": str(home)}
    with _probe_server(tmp_path, env) as body:
        assert body == b"None"
        # The master opens it once its worker is up (within ~50 ms here): watch for two seconds.
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            assert list(home.rglob("*")) == []
            time.sleep(0.05)


def test_gunicorn_keeps_the_metrics_of_running_job_workers_and_drops_ended_ones(tmp_path, monkeypatch):
    # worker.py's jobs count cache misses and finished identifications in the same directory.
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                           text=True, check=True)
    dead_pid = int(ended.stdout)
    for name in (f"counter_{os.getpid()}.db", f"gauge_livesum_{os.getpid()}.db", f"counter_{dead_pid}.db",
                 "stray.db"):
        (tmp_path / name).write_bytes(b"x")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    settings["on_starting"](None)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"counter_{os.getpid()}.db",
                                                          f"gauge_livesum_{os.getpid()}.db"]
