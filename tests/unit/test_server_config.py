"""The process settings that keep a long-lived web or job process responsive."""
import gc
import runpy
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
