"""Fill species from Trefle and OpenAI care text: cached in Redis, never touching locked fields."""
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from flask import current_app

from app.core.models import as_utc, utcnow
from app.core.redis import get_queue, get_redis
from app.extensions import db
from app.providers.base import ProviderError, setting
from app.providers.openai_care import OpenAICareClient
from app.providers.trefle import TrefleClient
from app.species.models import Species, SpeciesCommonName, SpeciesImage

log = logging.getLogger(__name__)
CACHE_TTL = 7 * 24 * 3600
NOT_FOUND = {"_not_found": True}
# A species whose care text could not be written is asked for it again after this long, not at each
# identification of it.
CARE_RETRY_AFTER = timedelta(minutes=15)


def enrichment_configured(config: Mapping[str, Any]) -> bool:
    """Tell whether a provider that enriches species (Trefle, OpenAI) has a key."""
    return bool(setting(config, "TREFLE_API_KEY") or setting(config, "OPENAI_API_KEY"))


def wants_care_text(species: Species, config: Mapping[str, Any]) -> bool:
    """Tell whether OpenAI could write this species' care text: it has none, an editor has not locked it,
    and OpenAI has a key."""
    return (not species.care_text and not species.is_locked("care_text")
            and bool(setting(config, "OPENAI_API_KEY")))


def wants_enrichment(species: Species, config: Mapping[str, Any], now: datetime) -> bool:
    """Tell whether enriching a species now could add to it: it never was, or its care text is still
    missing and was last asked for at least CARE_RETRY_AFTER ago."""
    if not enrichment_configured(config):
        return False
    if species.enriched_at is None:
        return True
    return wants_care_text(species, config) and as_utc(species.enriched_at) <= now - CARE_RETRY_AFTER


def _cached(key: str, fetch: Callable[[], Any], refresh: bool) -> Any:
    redis = get_redis()
    if not refresh:
        raw = redis.get(key)
        if raw is not None:
            return json.loads(raw)
    value = fetch()
    redis.set(key, json.dumps(value if value is not None else NOT_FOUND), ex=CACHE_TTL)
    return value


def _scale(value: Any, steps: tuple[tuple[int, str], ...]) -> str | None:
    if not isinstance(value, (int, float)):
        return None
    return next((label for floor, label in steps if value >= floor), None)


def trefle_fields(data: dict) -> dict[str, Any]:
    """Map Trefle's normalised record onto Species fields (None where Trefle says nothing)."""
    toxicity = data.get("toxicity")

    def whole(v):
        return round(v) if isinstance(v, (int, float)) else None

    return {
        "authorship": data.get("author"),
        "family": data.get("family"),
        "genus": data.get("genus"),
        "description": data.get("growth_description"),
        "light": _scale(data.get("light"), ((8, "full_sun"), (6, "partial_sun"), (4, "bright_indirect"),
                                            (2, "medium"), (0, "low"))),
        "humidity": _scale(data.get("atmospheric_humidity"), ((7, "high"), (4, "medium"), (0, "low"))),
        "temperature_min_c": whole(data.get("minimum_temperature_c")),
        "temperature_max_c": whole(data.get("maximum_temperature_c")),
        "toxic_to_people": None if toxicity is None else toxicity != "none",
        "edible_parts": list(data.get("edible_part") or []),
    }


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def enrich_species(species_id: uuid.UUID, *, refresh: bool = False) -> Species | None:
    """Fill a species' empty, unlocked fields from Trefle and its care text from OpenAI."""
    species = db.session.get(Species, species_id)
    if species is None:
        return None
    config, redis, name = current_app.config, get_redis(), species.scientific_name
    changed: list[str] = []
    data = None
    if setting(config, "TREFLE_API_KEY"):
        try:
            with TrefleClient.from_settings(config, redis) as trefle:
                data = _cached(f"verdant:enrich:trefle:{name}", lambda: trefle.species_by_name(name), refresh)
        except ProviderError as exc:
            log.warning("trefle enrichment failed", extra={"event": "species_enrich", "provider": "trefle",
                                                           "outcome": exc.kind, "species": name})
    if data and data != NOT_FOUND:
        for field, value in trefle_fields(data).items():
            if not species.is_locked(field) and not _empty(value) and _empty(getattr(species, field)):
                setattr(species, field, value)
                changed.append(field)
        species.trefle_id = species.trefle_id or str(data.get("trefle_id"))
        known = {n.name.casefold() for n in species.common_names}
        for common in [data.get("common_name"), *data.get("common_names", [])]:
            if common and common.casefold() not in known:
                species.common_names.append(SpeciesCommonName(name=common, lang="en",
                                                              position=len(species.common_names)))
                known.add(common.casefold())
        if not species.images and data.get("image_url"):
            species.images.append(SpeciesImage(url=data["image_url"], source="trefle",
                                               attribution="Trefle", license=None))
    if (setting(config, "OPENAI_API_KEY") and not species.is_locked("care_text")
            and (refresh or not species.care_text)):
        try:
            with OpenAICareClient.from_settings(config, redis) as openai:
                care = _cached(f"verdant:enrich:care:{name}",
                               lambda: openai.care_text(name, species.common_name), refresh)
            if care and care != NOT_FOUND:
                species.care_text = care
                changed.append("care_text")
        except ProviderError as exc:
            log.warning("care text failed", extra={"event": "species_enrich", "provider": "openai",
                                                   "outcome": exc.kind, "species": name})
    species.enriched_at = utcnow()
    db.session.commit()
    log.info("species enriched", extra={"event": "species_enrich", "outcome": "ok", "species": name,
                                        "fields": changed})
    return species


def queue_enrichment(species_id: uuid.UUID, *, refresh: bool = False):
    """Put enrichment of a species on the slow queue; return the RQ job."""
    from app.species import jobs
    return get_queue("slow").enqueue(jobs.enrich, str(species_id), refresh, job_timeout=180)
