"""Jobs run on a real RQ worker: in a thread on the embedded Redis, or as a process on real Redis."""
import os
import subprocess
import sys
import time

import pytest
from rq import Queue

from app.core.jobs import HEARTBEAT_KEY, heartbeat
from config import TestingConfig


def test_heartbeat_job_runs_inline_in_tests(app_ctx):
    from app.core.redis import get_queue, get_redis
    job = get_queue("fast").enqueue(heartbeat)
    assert job.is_finished
    assert float(get_redis().get(HEARTBEAT_KEY)) == pytest.approx(time.time(), abs=5)


def test_embedded_worker_thread_runs_jobs_on_in_process_redis(monkeypatch, make_app):
    monkeypatch.setattr(TestingConfig, "REDIS_URL", None)
    monkeypatch.setattr(TestingConfig, "RQ_ASYNC", True)
    app = make_app(TestingConfig)
    from app.core.worker import start_embedded_worker
    threads = start_embedded_worker(app)
    with app.app_context():
        job = app.extensions["queues"]["slow"].enqueue(heartbeat)
        deadline = time.time() + 10
        while not job.is_finished and time.time() < deadline:
            time.sleep(0.05)
            job.refresh()
        assert job.is_finished, job.get_status()
        assert app.extensions["redis"].get(HEARTBEAT_KEY) is not None
    assert all(t.is_alive() for t in threads)


@pytest.mark.integration
def test_worker_process_runs_jobs_on_real_redis(app):
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        pytest.skip("needs TEST_REDIS_URL (real Redis); CI sets it")
    redis = app.extensions["redis"]
    queue = Queue("fast", connection=redis)
    env = {**os.environ, "VERDANT_ENV": "production", "SECRET_KEY": "worker-test",
           "REDIS_URL": url, "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"]}
    worker = subprocess.Popen([sys.executable, "worker.py"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        job = queue.enqueue(heartbeat)
        deadline = time.time() + 20
        while not job.is_finished and time.time() < deadline and worker.poll() is None:
            time.sleep(0.1)
            job.refresh()
        assert job.is_finished, job.get_status()
        assert redis.get(HEARTBEAT_KEY) is not None
    finally:
        worker.terminate()
        output = worker.communicate(timeout=20)[0]
    assert worker.returncode in (0, -15), output
