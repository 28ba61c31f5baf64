"""RQ workers that run every job inside a fresh app context, in a process or a thread."""
import ctypes
import ctypes.util
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence

from flask import Flask
from redis.exceptions import RedisError
from rq import SimpleWorker
from rq.worker import WorkerStatus
from rq.scheduler import RQScheduler
from rq.timeouts import TimerDeathPenalty

log = logging.getLogger(__name__)
_PR_SET_PDEATHSIG = 1  # prctl(2): the signal this process gets when its parent dies


class AppWorker(SimpleWorker):
    """A worker that performs jobs in its own process, without forking.

    No fork per job keeps the database pool and the provider sessions warm, which is
    most of an identification's overhead; a crash kills only this worker, and RQ's
    abandoned-job handling requeues or fails the job it held.
    """

    flask_app: Flask

    def _start_scheduler(self, burst: bool = False, logging_level: str | None = "INFO", *args, **kwargs) -> None:
        # RQ's own, but for the scheduler's class: one that ends with its worker (AppScheduler).
        self.scheduler = AppScheduler(self.queues, connection=self.connection, serializer=self.serializer,
                                      logging_level=logging_level if logging_level is not None else self.log.level)
        self.scheduler.acquire_locks()
        if not self.scheduler.acquired_locks:
            return  # another worker's scheduler serves these queues; maintenance tries again
        if burst:
            try:
                self.scheduler.register_birth()
                self.scheduler.enqueue_scheduled_jobs()
            finally:
                self.scheduler.release_locks()
                self.scheduler.register_death()
        else:
            self.scheduler.start()

    def perform_job(self, job, queue, execution) -> bool:
        with self.flask_app.app_context():
            return super().perform_job(job, queue, execution)

    def get_heartbeat_ttl(self, job, working_time: float = 0.0) -> int:
        """Hold a job on a short lease that a thread renews while it runs (RQ's own lasts its timeout + 60 s).

        A worker killed mid-job stops renewing, so within WORKER_HEARTBEAT_SECONDS x 3 its job counts as
        abandoned, and requeue_abandoned_jobs hands it to another worker (or fails it, with no retry left).
        """
        return 3 * self.flask_app.config["WORKER_HEARTBEAT_SECONDS"]

    def execute_job(self, job, queue) -> None:
        execution = self.prepare_execution(job)
        done = threading.Event()
        renewer = threading.Thread(target=self._renew_lease, args=(job, execution, done),
                                   name="rq-heartbeat", daemon=True)
        renewer.start()
        try:
            self.perform_job(job, queue, execution)
        finally:
            done.set()
            renewer.join()
        self.set_state(WorkerStatus.IDLE)

    def _renew_lease(self, job, execution, done: threading.Event) -> None:
        every = self.flask_app.config["WORKER_HEARTBEAT_SECONDS"]
        while not done.wait(every):
            ttl = self.get_heartbeat_ttl(job)
            try:
                with self.connection.pipeline() as pipeline:
                    self.heartbeat(ttl, pipeline=pipeline)
                    # Renews the entry in the started registry only while it is there (xx).
                    execution.heartbeat(job.started_job_registry, ttl, pipeline)
                    pipeline.execute()
            except RedisError:
                log.warning("job heartbeat failed", extra={"event": "job_heartbeat_failed", "job": job.id})


class ThreadWorker(AppWorker):
    """The embedded worker: runs in a daemon thread of the web process."""

    # SIGALRM and signal handlers work only in the main thread.
    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self) -> None:
        pass


class AppScheduler(RQScheduler):
    """RQ's scheduler process, made to end with its worker.

    A worker killed with -9 cannot stop the scheduler it forked: that one would run on, orphaned, with
    the old code, holding the queues' scheduler lock so that the restarted worker gets none.
    """

    def start(self):
        self._worker_pid = os.getpid()
        return super().start()

    def work(self) -> None:
        _end_with_parent(self._worker_pid)
        super().work()


def _end_with_parent(parent: int) -> None:
    """Have the kernel send this process SIGTERM (a clean stop) when its parent dies; Linux only."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the worker died before that
        os.kill(os.getpid(), signal.SIGTERM)


class ThreadScheduler(RQScheduler):
    """RQ's scheduler run in a thread: its own start() forks, which cannot see an in-process Redis."""

    def _install_signal_handlers(self) -> None:
        pass


def make_worker(app: Flask, cls: type[AppWorker] = AppWorker, queues: Sequence[str] = ()) -> AppWorker:
    """Build a worker for the named queues (all the app's queues when none are named), bound to the app."""
    known = app.extensions["queues"]
    unknown = [name for name in queues if name not in known]
    if unknown:
        raise ValueError(f"no queue named {', '.join(unknown)}; the queues are {', '.join(known)}")
    # Maintenance (RQ's registry cleaning, and another try at the scheduler lock when a dead worker's
    # scheduler held it) every minute rather than 10; an idle worker wakes for it every minute.
    worker = cls([known[name] for name in queues or known], connection=app.extensions["redis"],
                 maintenance_interval=60, worker_ttl=75)
    worker.flask_app = app
    return worker


def arm_periodic_jobs(app: Flask) -> list[str]:
    """Queue the first run of every registered periodic job that is not already pending."""
    from app.core.jobs import schedule_periodic_jobs
    with app.app_context():
        return schedule_periodic_jobs()


def start_embedded_worker(app: Flask) -> list[threading.Thread]:
    """Start a worker and a scheduler in daemon threads of this process."""
    arm_periodic_jobs(app)
    worker = make_worker(app, ThreadWorker)
    scheduler = ThreadScheduler(list(app.config["RQ_QUEUES"]), connection=app.extensions["redis"],
                                interval=1)
    threads = [
        threading.Thread(target=worker.work, kwargs={"logging_level": "WARNING"},
                         name="rq-worker", daemon=True),
        threading.Thread(target=scheduler.work, name="rq-scheduler", daemon=True),
    ]
    for thread in threads:
        thread.start()
    log.info("embedded worker started", extra={"event": "worker_started", "queues": app.config["RQ_QUEUES"]})
    return threads
