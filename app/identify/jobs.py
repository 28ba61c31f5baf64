"""RQ entry point of identification: run one identification (enrichment is the species domain's job)."""
from __future__ import annotations


def run_identification_job(ident_id: str, sent: dict | None = None) -> str | None:
    """Run one identification (fast queue); sent is what its providers are sent, when the upload queued it."""
    from app.identify.service import run_identification
    return run_identification(ident_id, sent)
