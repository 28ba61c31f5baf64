"""Jobs run on a real RQ worker: in a thread on the embedded Redis, or as a process on real Redis."""
import os
import subprocess
import sys
import threading
from pathlib import Path
import time

import pytest
from rq import Queue

from app.core.jobs import HEARTBEAT_KEY, heartbeat
from config import TestingConfig
from tests.conftest import worker_env


def _jobs_app(monkeypatch, make_app, **settings):
    """An app whose jobs wait in its in-process Redis for a worker (not run inline), with these settings."""
    monkeypatch.setattr(TestingConfig, "REDIS_URL", None)
    monkeypatch.setattr(TestingConfig, "RQ_ASYNC", True)
    for name, value in settings.items():
        monkeypatch.setattr(TestingConfig, name, value)
    return make_app(TestingConfig)


def test_heartbeat_job_runs_inline_in_tests(app_ctx):
    from app.core.redis import get_queue, get_redis
    job = get_queue("fast").enqueue(heartbeat)
    assert job.is_finished
    assert float(get_redis().get(HEARTBEAT_KEY)) == pytest.approx(time.time(), abs=5)


def test_embedded_worker_thread_runs_jobs_on_in_process_redis(monkeypatch, make_app):
    app = _jobs_app(monkeypatch, make_app)
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
    env = worker_env(app, url)
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


def _periodic_runs_waiting(app) -> list[tuple[str, str]]:
    """(queue, periodic job) of every run waiting in a queue or in its schedule."""
    from rq.registry import ScheduledJobRegistry

    from app.core.jobs import run_periodic
    waiting = []
    for queue in app.extensions["queues"].values():
        jobs = queue.jobs + [queue.fetch_job(i) for i in ScheduledJobRegistry(queue=queue).get_job_ids()]
        waiting += [(queue.name, job.args[0]) for job in jobs if job.func is run_periodic]
    return sorted(waiting)


def test_periodic_jobs_are_armed_once_per_redis(app_ctx):
    from app.core.jobs import PERIODIC_KEY, schedule_periodic_jobs
    from app.core.redis import get_redis
    names = ["abandoned-jobs", "notifications-digest", "identify-sweep", "identify-count", "plantid-quota"]
    get_redis().delete(*(PERIODIC_KEY.format(name) for name in names))
    assert sorted(schedule_periodic_jobs()) == sorted(names)
    assert schedule_periodic_jobs() == []
    # Their runs' ids say what they are, so the logs can leave their routine lines out.
    from rq.registry import ScheduledJobRegistry
    ids = [i for queue in app_ctx.extensions["queues"].values() for i in ScheduledJobRegistry(queue=queue).get_job_ids()]
    assert len(ids) == len(names) and all(i.startswith("periodic-") for i in ids)
    # The hand-over of abandoned jobs runs on the fast queue: no slow job may hold it up.
    assert _periodic_runs_waiting(app_ctx) == sorted([("fast", "abandoned-jobs")] + [
        ("slow", name) for name in names if name != "abandoned-jobs"])


def test_periodic_job_queues_its_next_run_even_when_it_fails(app_ctx, monkeypatch):
    from rq.registry import ScheduledJobRegistry

    from app.core.jobs import PERIODIC_KEY, run_periodic
    from app.core.redis import get_queue, get_redis

    def broken():
        raise RuntimeError("boom")

    monkeypatch.setitem(app_ctx.extensions["periodic_jobs"], "identify-sweep", (broken, 60, "slow"))
    get_redis().set(PERIODIC_KEY.format("identify-sweep"), "1", ex=180)
    registry = ScheduledJobRegistry(queue=get_queue("slow"))
    before = len(registry)
    with pytest.raises(RuntimeError):
        run_periodic("identify-sweep")
    assert len(registry) == before + 1
    assert 170 < get_redis().ttl(PERIODIC_KEY.format("identify-sweep")) <= 180


def test_workers_sweep_stuck_identifications_on_a_schedule(monkeypatch, make_app, app):
    from datetime import timedelta

    from app.core import messages
    from app.core.models import utcnow
    from app.core.worker import ThreadScheduler, ThreadWorker, arm_periodic_jobs, make_worker
    from app.extensions import db
    from app.identify.models import Identification
    worker_app = _jobs_app(monkeypatch, make_app, IDENTIFY_SWEEP_SECONDS=1)
    with worker_app.app_context():
        stuck = Identification(status="running", cache_key="stuck")
        db.session.add(stuck)
        db.session.commit()
        db.session.execute(Identification.__table__.update().where(Identification.id == stuck.id)
                           .values(updated_at=utcnow() - timedelta(hours=1)))
        db.session.commit()
        assert "identify-sweep" in arm_periodic_jobs(worker_app)
        scheduler = ThreadScheduler(["slow"], connection=worker_app.extensions["redis"])
        time.sleep(1.2)  # the first run is due one interval after the worker starts
        scheduler.acquire_locks()
        scheduler.enqueue_scheduled_jobs()
        scheduler.release_locks()
        make_worker(worker_app, ThreadWorker).work(burst=True, logging_level="WARNING")
        db.session.expire_all()
        ident = db.session.get(Identification, stuck.id)
        assert ident.status == "failed" and ident.error == messages.IDENTIFY_STUCK
        # ... and the run queued the next one (beside the other periodic jobs, still waiting).
        assert _periodic_runs_waiting(worker_app) == [("fast", "abandoned-jobs"), ("slow", "identify-count"),
                                                      ("slow", "identify-sweep"), ("slow", "notifications-digest"),
                                                      ("slow", "plantid-quota")]


def test_worker_listens_on_the_named_queues_only(app):
    from app.core.worker import make_worker
    assert make_worker(app).queue_names() == ["fast", "slow"]
    assert make_worker(app, queues=["fast"]).queue_names() == ["fast"]
    with pytest.raises(ValueError, match="no queue named fsat"):
        make_worker(app, queues=["fsat"])


def test_worker_command_refuses_an_unknown_queue(monkeypatch):
    import worker
    monkeypatch.setattr(TestingConfig, "REDIS_URL", "redis://127.0.0.1:1/0")  # never reached
    monkeypatch.setenv("VERDANT_ENV", "testing")
    assert worker.main(["fsat"]) == 2


def test_worker_command_freezes_the_loaded_app_before_working(monkeypatch):
    import gc

    import worker
    monkeypatch.setattr(TestingConfig, "REDIS_URL", "redis://127.0.0.1:1/0")  # never reached
    monkeypatch.setenv("VERDANT_ENV", "testing")
    frozen = []

    class Recorder:
        def work(self, **kwargs):
            frozen.append(gc.get_freeze_count())

    monkeypatch.setattr(worker, "make_worker", lambda app, queues=(): Recorder())
    monkeypatch.setattr(worker, "arm_periodic_jobs", lambda app: [])
    gc.unfreeze()
    try:
        assert worker.main([]) == 0
    finally:
        gc.unfreeze()
    assert frozen and frozen[0] > 1000


@pytest.mark.integration
def test_procfile_workers_run_an_identification_job_while_a_slow_job_runs(app):
    """A slow job (an enrichment waiting on OpenAI, an email) must not hold up identifications: the
    Procfile's workers serve the fast queue apart from the slow one."""
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        pytest.skip("needs TEST_REDIS_URL (real Redis); CI sets it")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(root, "Procfile")) as procfile:
        commands = [line.split(":", 1)[1].split() for line in procfile if "worker.py" in line]
    redis = app.extensions["redis"]
    env = worker_env(app, url)
    workers = [subprocess.Popen([sys.executable, *command[1:]], cwd=root, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True) for command in commands]
    try:
        slow = Queue("slow", connection=redis).enqueue(time.sleep, 8)
        deadline = time.time() + 20
        while slow.get_status(refresh=True) != "started" and time.time() < deadline:
            time.sleep(0.05)
        assert slow.get_status() == "started"
        fast = Queue("fast", connection=redis).enqueue(heartbeat)
        deadline = time.time() + 5
        while not fast.is_finished and time.time() < deadline:
            time.sleep(0.05)
            fast.refresh()
        assert fast.is_finished, fast.get_status()
        assert slow.get_status(refresh=True) == "started"  # still sleeping: it did not hold the fast job up
    finally:
        for worker in workers:
            worker.terminate()
        outputs = [worker.communicate(timeout=20)[0] for worker in workers]
    assert all(worker.returncode in (0, -15) for worker in workers), outputs


@pytest.mark.integration
def test_a_job_whose_worker_is_killed_is_run_again_by_the_next_worker(app_ctx, client, fake_providers, monkeypatch):
    """kill -9 of a worker mid-identification: within seconds its job goes to the next worker, photo kept."""
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        pytest.skip("needs TEST_REDIS_URL (real Redis); CI sets it")
    from rq.registry import StartedJobRegistry
    from sqlalchemy import select

    from app.core.jobs import requeue_abandoned_jobs
    from app.core.storage import get_storage
    from app.extensions import db
    from app.identify.models import Identification
    from tests import image_factory as images
    from tests.identify_helpers import post_upload
    redis = app_ctx.extensions["redis"]
    queues = {name: Queue(name, connection=redis) for name in ("fast", "slow")}
    monkeypatch.setitem(app_ctx.extensions, "queues", queues)
    env = worker_env(app_ctx, url, MEDIA_ROOT=app_ctx.config["MEDIA_ROOT"], **fake_providers.settings,
                     WORKER_HEARTBEAT_SECONDS="1")
    fake_providers.set_mode("plantid", "ok", delay=20.0)

    def start_worker():
        return subprocess.Popen([sys.executable, "worker.py", "fast"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)

    def wait_for(done, seconds):
        deadline = time.monotonic() + seconds
        while not (happened := done()) and time.monotonic() < deadline:
            time.sleep(0.1)
        return happened

    def status():
        db.session.expire_all()
        return db.session.scalars(select(Identification.status)).one()

    first = start_worker()
    try:
        assert post_upload(client, [images.jpeg(color=(140, 30, 60))]).status_code == 303
        # Killed mid-call: Plant.id is answering, and the job has marked the row running meanwhile.
        assert wait_for(lambda: fake_providers.hits("plantid") == 1 and status() == "running", 30), (
            "the first worker never got as far as calling Plant.id")
    finally:
        first.kill()  # SIGKILL: no warm shutdown, no failure handling, its lease simply stops being renewed
        first.communicate(timeout=20)
    ident = db.session.scalars(select(Identification)).one()
    started = StartedJobRegistry(queue=queues["fast"])
    [lost] = started.get_job_ids(cleanup=False)
    fake_providers.set_mode("plantid", "ok", delay=0)
    # The lease lasts three missed beats (3 s here); RQ's own look would come after its timeout + 60 s.
    assert wait_for(lambda: requeue_abandoned_jobs() == 1, 10)
    # Back at the head of the queue at once: no retry interval, no scheduler needed.
    assert queues["fast"].get_job_ids()[0] == lost
    second = start_worker()
    try:
        def finished():
            db.session.expire_all()
            return db.session.get(Identification, ident.id).status in ("completed", "partial", "failed")
        assert wait_for(finished, 30)
    finally:
        second.terminate()
        output = second.communicate(timeout=20)[0]
    ident = db.session.get(Identification, ident.id)
    assert ident.status == "completed" and ident.attempts == 2, output[-2000:]
    # The second run took back the photo's lock its first run held, rather than waiting out its 60 s.
    assert "identify lock taken back" in output
    assert fake_providers.hits("plantid") == 2
    assert ident.suggestions
    assert all(get_storage().exists(image.storage_key) for image in ident.images)


def test_a_long_job_keeps_its_lease_while_its_worker_lives(monkeypatch, make_app):
    from app.core.jobs import requeue_abandoned_jobs
    from app.core.worker import ThreadWorker, make_worker
    worker_app = _jobs_app(monkeypatch, make_app, WORKER_HEARTBEAT_SECONDS=1)
    with worker_app.app_context():
        job = worker_app.extensions["queues"]["fast"].enqueue(time.sleep, 5)  # over the 3 s lease
        runner = threading.Thread(target=make_worker(worker_app, ThreadWorker).work,
                                  kwargs={"burst": True, "logging_level": "WARNING"})
        runner.start()
        handed = []
        while runner.is_alive():
            handed.append(requeue_abandoned_jobs())
            time.sleep(0.25)
        runner.join()
        job.refresh()
        assert job.is_finished and job.retries_left is None
        assert len(handed) > 10 and not any(handed)


def test_a_worker_starting_after_a_long_outage_keeps_one_chain_per_periodic_job(app_ctx):
    # The key marking a pending run lasts three intervals; a run queued before an outage longer than
    # that still waits in the schedule, and a second chain beside it would run the job twice a period.
    from rq.registry import ScheduledJobRegistry

    from app.core.jobs import PERIODIC_KEY, schedule_periodic_jobs
    from app.core.redis import get_queue, get_redis
    names = list(app_ctx.extensions["periodic_jobs"])
    get_redis().delete(*(PERIODIC_KEY.format(name) for name in names))
    registry = ScheduledJobRegistry(queue=get_queue("slow"))
    assert sorted(schedule_periodic_jobs()) == sorted(names)
    armed = _periodic_runs_waiting(app_ctx)
    # One run went from the schedule into the queue (due while no worker ran), the others still wait.
    registry.requeue(registry.get_job_ids()[0])
    get_redis().delete(*(PERIODIC_KEY.format(name) for name in names))  # expired during the outage
    assert schedule_periodic_jobs() == []
    assert _periodic_runs_waiting(app_ctx) == armed
    assert all(get_redis().exists(PERIODIC_KEY.format(name)) for name in names)  # marked pending again


def _children(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


@pytest.mark.integration
def test_a_killed_workers_scheduler_ends_with_it_and_frees_the_lock(app):
    url = os.environ.get("TEST_REDIS_URL")
    if not url or not sys.platform.startswith("linux"):
        pytest.skip("needs TEST_REDIS_URL (real Redis; CI sets it) and Linux")
    redis = app.extensions["redis"]
    env = worker_env(app, url)
    worker = subprocess.Popen([sys.executable, "worker.py", "fast"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    scheduler = None
    try:
        deadline = time.monotonic() + 30
        while not (children := _children(worker.pid)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert children, "the worker started no scheduler"
        scheduler = children[0]
        # Running: it holds the lock and has registered (its stop handler is in place by then).
        name = redis.get("rq:scheduler-lock:fast")

        def registered():
            pid = redis.hget(f"rq:scheduler:{name.decode()}", "pid") if name else None
            return pid is not None and int(pid) == scheduler
        while not registered() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert registered()
        worker.kill()
        worker.communicate(timeout=20)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{scheduler}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        # Gone (a zombie until init reaps it at most), and its lock with it: a new worker gets one.
        state = Path(f"/proc/{scheduler}/stat")
        assert not state.exists() or state.read_text().rsplit(")", 1)[1].split()[0] == "Z"
        assert not redis.exists("rq:scheduler-lock:fast")
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.communicate(timeout=20)
        if scheduler and Path(f"/proc/{scheduler}").exists():
            os.kill(scheduler, 9)


def test_an_abandoned_identification_with_no_retry_left_fails_at_once(monkeypatch, make_app, app):
    # Its third worker died too: the hand-over fails it then, where the sweep took 5 minutes.
    from rq import Callback

    from app.core import messages
    from app.core.jobs import requeue_abandoned_jobs
    from app.core.worker import AppWorker, make_worker
    from app.extensions import db
    from app.identify.jobs import identification_job_failed, run_identification_job
    from app.identify.models import Identification
    worker_app = _jobs_app(monkeypatch, make_app, WORKER_HEARTBEAT_SECONDS=1)
    with worker_app.app_context():
        ident = Identification(status="running", cache_key="lost")
        db.session.add(ident)
        db.session.commit()
        job = worker_app.extensions["queues"]["fast"].enqueue(
            run_identification_job, str(ident.id), on_failure=Callback(identification_job_failed))
        worker = make_worker(worker_app, AppWorker, queues=["fast"])
        worker.register_birth()
        worker.prepare_execution(job)  # taken by a worker, which then dies: its 3 s lease is never renewed
        worker.prepare_job_execution(job)
        assert requeue_abandoned_jobs() == 0
        time.sleep(3.2)
        assert requeue_abandoned_jobs() == 1
        db.session.expire_all()
        ident = db.session.get(Identification, ident.id)
        assert (ident.status, ident.error) == ("failed", messages.IDENTIFY_CRASHED.format(then=messages.RETRY_LATER))
        assert job.get_status(refresh=True) == "failed"
