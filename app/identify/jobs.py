"""RQ entry point of identification: run one identification (enrichment is the species domain's job)."""
from __future__ import annotations


def run_identification_job(ident_id: str, sent: dict | None = None) -> str | None:
    """Run one identification (fast queue); sent is what its providers are sent, when the upload queued it."""
    from app.identify.service import run_identification
    return run_identification(ident_id, sent)


def identification_job_failed(job, connection, exc_type, exc_value, traceback) -> None:
    """RQ's failure callback. An identification whose worker died under it with no retry left is
    failed now (requeue_abandoned_jobs finds it within seconds), not by the sweep minutes later.

    A job that raised has marked its row itself; one with a retry left runs again.
    """
    from flask import has_app_context
    from rq.exceptions import AbandonedJobError
    if exc_type is not AbandonedJobError or (job.retries_left or 0) > 0 or not has_app_context():
        return
    from app.identify.service import fail_abandoned
    fail_abandoned(job.args[0])
