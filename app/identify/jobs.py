"""RQ entry points of identification: run one identification, enrich a species with Trefle and OpenAI."""
from __future__ import annotations

import logging
import uuid

from flask import current_app

from app.core.models import utcnow
from app.core.redis import get_redis
from app.extensions import db
from app.providers.base import ProviderError, setting
from app.species.models import Species

log = logging.getLogger(__name__)


def run_identification_job(ident_id: str, sent: dict | None = None) -> str | None:
    """Run one identification (fast queue); sent is what its providers are sent, when the upload queued it."""
    from app.identify.service import run_identification
    return run_identification(ident_id, sent)


def _fill(species: Species, field: str, value) -> None:
    if value in (None, "", [], {}) or species.is_locked(field) or getattr(species, field) not in (None, "", []):
        return
    setattr(species, field, value)


def enrich_species_job(species_id: str) -> bool:
    """Fill a species' empty, unlocked fields from Trefle and its care text from OpenAI, once (slow queue)."""
    species = db.session.get(Species, uuid.UUID(species_id))
    if species is None or (species.enriched_at and species.care_text):
        return False
    config, redis = current_app.config, get_redis()
    if setting(config, "TREFLE_API_KEY"):
        from app.providers.trefle import TrefleClient
        try:
            with TrefleClient.from_settings(config, redis) as trefle:
                data = trefle.species_by_name(species.scientific_name)
        except ProviderError as exc:
            log.warning("trefle enrichment failed", extra={"event": "enrichment_failed", "kind": exc.kind})
            data = None
        if data:
            _fill(species, "family", data.get("family"))
            _fill(species, "genus", data.get("genus"))
            _fill(species, "authorship", data.get("author"))
            if not species.trefle_id and data.get("trefle_id") is not None:
                species.trefle_id = str(data["trefle_id"])
    if setting(config, "OPENAI_API_KEY") and not species.is_locked("care_text") and not species.care_text:
        from app.providers.openai_care import OpenAICareClient
        try:
            with OpenAICareClient.from_settings(config, redis) as openai:
                species.care_text = openai.care_text(species.scientific_name, species.common_name)
        except ProviderError as exc:
            log.warning("care text failed", extra={"event": "enrichment_failed", "kind": exc.kind})
    species.enriched_at = utcnow()
    db.session.commit()
    return True
