"""RQ workers that run every job inside a fresh app context, in a process or a thread."""
import logging
import threading
from collections.abc import Sequence

from flask import Flask
from rq import SimpleWorker
from rq.scheduler import RQScheduler
from rq.timeouts import TimerDeathPenalty

log = logging.getLogger(__name__)


class AppWorker(SimpleWorker):
    """A worker that performs jobs in its own process, without forking.

    No fork per job keeps the database pool and the provider sessions warm, which is
    most of an identification's overhead; a crash kills only this worker, and RQ's
    abandoned-job handling requeues or fails the job it held.
    """

    flask_app: Flask

    def perform_job(self, job, queue, execution) -> bool:
        with self.flask_app.app_context():
            return super().perform_job(job, queue, execution)


class ThreadWorker(AppWorker):
    """The embedded worker: runs in a daemon thread of the web process."""

    # SIGALRM and signal handlers work only in the main thread.
    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self) -> None:
        pass


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
    worker = cls([known[name] for name in queues or known], connection=app.extensions["redis"])
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
