"""Background jobs of the core: the worker heartbeat the operations dashboard shows, periodic jobs,
and the hand-over of jobs whose worker died."""
import logging
import time
import uuid
from datetime import timedelta

from sqlalchemy import text

from flask import current_app
from prometheus_client.core import GaugeMetricFamily
from redis.exceptions import RedisError
from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from rq.timeouts import TimerDeathPenalty

from app.core.logging import PERIODIC_JOB_PREFIX
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
    After an outage longer than the key lasts, the run still waiting is found, and kept as the only one.
    """
    _, seconds, queue_name = current_app.extensions["periodic_jobs"][name]
    if not get_redis().set(PERIODIC_KEY.format(name), "1", ex=seconds * 3, nx=not rearm):
        return False
    queue = get_queue(queue_name)
    if not rearm and _pending(name, queue):
        return False
    queue.enqueue_in(timedelta(seconds=seconds), run_periodic, name, job_timeout=max(60, seconds),
                     result_ttl=0, failure_ttl=24 * 3600, job_id=f"{PERIODIC_JOB_PREFIX}{name}-{uuid.uuid4().hex}")
    return True


def _pending(name: str, queue: Queue) -> bool:
    """Tell whether a run of this periodic job waits in its queue or in the queue's schedule."""
    ids = ScheduledJobRegistry(queue=queue).get_job_ids() + queue.get_job_ids()
    return any(job is not None and job.func_name == f"{__name__}.run_periodic" and job.args == (name,)
               for job in Job.fetch_many(ids, connection=queue.connection))


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
    run, _, _ = current_app.extensions["periodic_jobs"][name]
    try:
        return run()
    finally:
        schedule_periodic(name, rearm=True)


def requeue_abandoned_jobs() -> int:
    """Requeue the jobs whose worker died under them (or fail those with no retry left); return how many.

    A running job's lease in RQ's started registry is renewed every WORKER_HEARTBEAT_SECONDS by its
    worker (app.core.worker.AppWorker). RQ's own look at expired leases (a worker's maintenance, every
    minute here) would schedule the retry after its interval, which needs a live scheduler.
    """
    handed = 0
    for queue in current_app.extensions["queues"].values():
        # Failure callbacks of the abandoned jobs run under a timer: this may be the embedded worker's thread.
        registry = StartedJobRegistry(queue=queue, death_penalty_class=TimerDeathPenalty)
        expired = registry.get_expired_job_ids()
        if not expired:
            continue
        registry.cleanup()
        handed += len(expired)
        # A dead worker is no fault to back off from: its job's retry need not wait out the retry
        # interval, nor the minute the dead worker's hold on the queue's scheduler lasts.
        scheduled = ScheduledJobRegistry(queue=queue)
        for job_id in expired:
            if job_id in scheduled:
                scheduled.requeue(job_id, at_front=True)
    if handed:
        log.warning("abandoned jobs handed on", extra={"event": "jobs_abandoned", "count": handed})
    return handed


class QueueCollector:
    """The job queues' depth for Prometheus, read from Redis when scraped: jobs waiting, running,
    scheduled (periodic runs, retries) and failed (kept a day)."""

    def collect(self):
        jobs = GaugeMetricFamily("verdant_queue_jobs", "Jobs in each queue, by state", labels=["queue", "state"])
        for queue in current_app.extensions["queues"].values():
            registries = {"started": StartedJobRegistry, "scheduled": ScheduledJobRegistry,
                          "failed": FailedJobRegistry}
            try:
                with queue.connection.pipeline(transaction=False) as pipe:
                    pipe.llen(queue.key)
                    for registry in registries.values():
                        pipe.zcard(registry(queue=queue).key)  # not .count: that cleans up as it counts
                    counts = pipe.execute()
            except RedisError:
                continue
            for state, count in zip(("queued", *registries), counts, strict=True):
                jobs.add_metric([queue.name, state], count)
        yield jobs


def register(app) -> None:
    """Look for abandoned jobs as often as a lease lasts, on the fast queue: a slow job (an enrichment
    waiting a minute on OpenAI) must not hold up the hand-over of an identification. Report the queues'
    depth in /metrics."""
    from app.core.registry import register_metrics_collector, register_periodic_job
    register_periodic_job(app, "abandoned-jobs", requeue_abandoned_jobs, 3 * app.config["WORKER_HEARTBEAT_SECONDS"],
                          queue="fast")
    register_metrics_collector(app, QueueCollector())
