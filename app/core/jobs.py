"""Background jobs of the core: the worker heartbeat the operations dashboard shows, periodic jobs."""
import logging
import time
from datetime import timedelta

from sqlalchemy import text

from flask import current_app
from redis.exceptions import RedisError

from app.core.redis import get_queue, get_redis
from app.extensions import db

HEARTBEAT_KEY = "verdant:worker:heartbeat"
PERIODIC_KEY = "verdant:periodic:{}"

log = logging.getLogger(__name__)


def heartbeat() -> float:
    """Prove a worker can reach the database and Redis, and record when it last did."""
    db.session.execute(text("SELECT 1"))
    now = time.time()
    get_redis().set(HEARTBEAT_KEY, now, ex=24 * 3600)
    return now


def schedule_periodic(name: str, *, rearm: bool = False) -> bool:
    """Queue the next run of a registered periodic job unless one is already pending; True when queued.

    A Redis key marks the pending run, so any number of workers starting keep one chain; it outlives
    the interval, so a chain that died (its job lost with a flushed queue) is re-armed by the next start.
    """
    _, seconds = current_app.extensions["periodic_jobs"][name]
    if not get_redis().set(PERIODIC_KEY.format(name), "1", ex=seconds * 3, nx=not rearm):
        return False
    get_queue("slow").enqueue_in(timedelta(seconds=seconds), run_periodic, name, job_timeout=max(60, seconds),
                                 result_ttl=0, failure_ttl=24 * 3600)
    return True


def schedule_periodic_jobs() -> list[str]:
    """Arm every registered periodic job that has no pending run (called when a worker starts)."""
    armed = []
    for name in current_app.extensions.get("periodic_jobs", {}):
        try:
            if schedule_periodic(name):
                armed.append(name)
        except RedisError:
            log.warning("periodic job not scheduled", extra={"event": "periodic_unscheduled", "job": name})
    return armed


def run_periodic(name: str) -> object:
    """Run one registered periodic job, then queue its next run, whatever the outcome."""
    run, _ = current_app.extensions["periodic_jobs"][name]
    try:
        return run()
    finally:
        schedule_periodic(name, rearm=True)
