"""The process settings that keep a long-lived web or job process responsive."""
import gc
import os
import runpy
import socket
import subprocess
import sys
import time
import urllib.request
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


def test_gunicorn_workers_record_no_spawning_stacks(tmp_path):
    # Run a real gunicorn gevent worker with these settings and ask a greenlet what it recorded.
    (tmp_path / "probe_app.py").write_text(
        "import gevent\n"
        "def app(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [repr(getattr(gevent.getcurrent(), 'spawning_stack', None)).encode()]\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "GEVENT_TRACK_GREENLET_TREE"}
    env["PYTHONPATH"] = str(tmp_path)
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
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert body == b"None"
