"""Identification facade: submit uploads, run provider calls, cache, progress events, results and history."""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from concurrent.futures import wait as wait_all
from dataclasses import astuple, dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask import current_app
from redis.exceptions import LockError, RedisError
from redis.lock import Lock
from rq import get_current_job
from sqlalchemy import and_, delete, insert, inspect, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import joinedload, selectinload

from app.core import fragments, messages
from app.core.images import CleanImage, make_thumbnail
from app.core.models import as_utc, utcnow
from app.core.redis import get_queue, get_redis
from app.core.storage import StorageError, get_storage
from app.extensions import cache, db
from app.identify.merge import MergedSuggestion, merge_suggestions
from app.identify.metrics import CACHE, IDENTIFICATIONS
from app.identify.models import FINAL_STATUSES, Identification, IdentificationImage, IdentificationSuggestion
from app.identify.uploads import CleanPhotos
from app.providers import fakes
from app.providers.base import ImageInput, ProviderError, ProviderResult, build_providers, setting
from app.providers.http import telling_when_sent
from app.species.enrichment import queue_enrichment, wants_care_text, wants_enrichment
from app.species.models import Species
from app.species.service import SpeciesFacts, add_identification_counts, species_for, species_named

log = logging.getLogger(__name__)

CACHE_PREFIX = "verdant:identify:cache:"
RAW_PREFIX = "verdant:identify:raw:"
LOCK_PREFIX = "verdant:identify:lock:"
CHANNEL_PREFIX = "verdant:identify:events:"
PROGRESS_PREFIX = "verdant:identify:progress:"
STATS_PREFIX = "verdant:identify:stats:"
QUOTA_PREFIX = "verdant:identify:quota:"
CHARGED_PREFIX = "verdant:identify:charged:"  # which quota key an identification's unit came from
FORGOTTEN_KEY = "verdant:identify:forgotten"  # stored photos deleted with their identifications
RECENT_PUBLIC_KEY = "identify:recent_public"
PROGRESS_TTL = 24 * 3600
Place = tuple[float, float] | None  # (latitude, longitude) as the cache tells them apart: place_of
KEPT_SUGGESTIONS = 5
COUNT_BATCH = 1000
HIGH_CONFIDENCE = 0.8
PAGE_SIZE = 20
PROVIDER_LABELS = {"plantid": "Plant.id", "plantnet": "Pl@ntNet"}
# How often a failed identification retries on its own while its providers are down.
AUTO_RETRY_DELAYS = (60, 300)
RETRY_GRACE = timedelta(minutes=2)  # a scheduled retry may start late: its worker is busy, or restarting
# The result shows the top species' care text, or that it is being written: what that needs of a species
# is loaded with it, not read again as it is drawn.
_SHOWN = (Species.slug, Species.care_text, Species.enriched_at, Species.locked_fields)
# How long a result keeps asking for its top species' care text while enrichment writes it.
CARE_WAIT = timedelta(minutes=2)


class QueueDown(Exception):
    """The job queue refused the job; the upload was rolled back."""


class QuotaExceeded(Exception):
    """The user (or address) used up today's identifications."""


@dataclass(frozen=True)
class Submitted:
    """A stored upload, as the upload view needs it: read before the commit expired the row."""

    id: uuid.UUID
    ident: Identification | None = None  # answered from the cache: the row as stored, ready to show

    @property
    def final(self) -> bool:
        return self.ident is not None


# ---- configuration -------------------------------------------------------------------------------

def configured_providers() -> list[str]:
    """Return the names of the identification providers that have an API key."""
    return [name for name in ("plantid", "plantnet") if setting(current_app.config, f"{name.upper()}_API_KEY")]


def is_demo() -> bool:
    """Tell whether the configured providers are the local fakes, whose answers are not real."""
    config = current_app.config
    return any(config.get(f"{name.upper()}_API_KEY") == fakes.KEYS[name] for name in configured_providers())


# ---- cache, quota and progress in Redis ------------------------------------------------------------

def cache_key_for(images: Sequence[CleanImage], organs: Sequence[str], *, health: bool = False,
                  place: Place = None) -> str:
    """Key the result cache by the cleaned photos' SHA-256 and their organs, in order (and the health
    check, and where the photo was taken: Plant.id weighs its answer by the region).

    The fakes' demo answers have keys of their own: they must never answer a site with real keys."""
    if len(images) == 1 and organs[0] == "auto" and not health and place is None and not is_demo():
        return images[0].sha256
    joined = "|".join(f"{image.sha256}:{organ}" for image, organ in zip(images, organs, strict=True))
    return hashlib.sha256((joined + _key_suffix(health, place)).encode()).hexdigest()


def raw_key_for(raw_digests: Sequence[str], organs: Sequence[str], *, health: bool = False,
                place: Place = None) -> str:
    """Key an upload by the SHA-256 of its photos as sent (before cleaning), their organs, the health check
    and the place (and whether the answers are the fakes' demo ones)."""
    joined = "|".join(f"{digest}:{organ}" for digest, organ in zip(raw_digests, organs, strict=True))
    return hashlib.sha256((joined + _key_suffix(health, place)).encode()).hexdigest()


def place_of(latitude: float | None, longitude: float | None) -> Place:
    """Where a photo was taken, as far as the cache tells places apart (0.1°, about 11 km), or None."""
    if latitude is None or longitude is None:
        return None
    return round(latitude, 1) + 0.0, round(longitude, 1) + 0.0  # + 0.0: -0.0 is 0.0's place


def _key_suffix(health: bool, place: Place) -> str:
    return ("|health" if health else "") + (f"|at:{place[0]:.1f},{place[1]:.1f}" if place else "") + (
        "|demo" if is_demo() else "")


def known_upload(raw_key: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Return (stored photos, cached result) when these exact bytes were cleaned and identified before,
    and their stored photos are still there (not deleted with their identification: forget_photos)."""
    redis = get_redis()
    try:
        raw = redis.get(RAW_PREFIX + raw_key)
        if not raw:
            return None
        entry = json.loads(raw)
        with redis.pipeline(transaction=False) as pipe:
            pipe.get(CACHE_PREFIX + entry["cache_key"])
            pipe.smismember(FORGOTTEN_KEY, [image["storage_key"] for image in entry["images"]])
            cached, forgotten = pipe.execute()
    except RedisError:
        return None
    if cached is None or any(forgotten):
        return None
    return entry, json.loads(cached)


def _remember_upload(raw_key: str, cache_key: str, stored: Sequence[dict[str, Any]]) -> None:
    try:
        get_redis().set(RAW_PREFIX + raw_key, json.dumps({"cache_key": cache_key, "images": list(stored)}),
                        ex=current_app.config["IDENTIFY_CACHE_SECONDS"])
    except RedisError:
        pass


def submit_known_upload(known: tuple[dict[str, Any], dict[str, Any]], organs: Sequence[str], *,
                        owner_id: uuid.UUID | None, session_key: str | None, quota_subject: str,
                        latitude: float | None = None, longitude: float | None = None,
                        wants_health: bool = False) -> Submitted:
    """Answer an upload seen before straight from the cache, sharing its already cleaned photos."""
    entry, cached = known
    take_quota(quota_subject, cache_hit=True)
    ident_id = uuid.uuid4()
    ident = Identification(id=ident_id, owner_id=owner_id, session_key=session_key, status="queued",
                           cache_key=entry["cache_key"], latitude=latitude, longitude=longitude, demo=is_demo(),
                           providers=configured_providers(), wants_health=wants_health)
    for position, (image, organ) in enumerate(zip(entry["images"], organs, strict=True)):
        ident.images.append(IdentificationImage(identification_id=ident_id, position=position, organ=organ, **image))
    # Nobody can be listening to an id made a moment ago: no progress event to publish.
    _complete(ident, cached, from_cache=True, announce=False)
    return Submitted(ident_id, ident=ident)


def cached_result(key: str) -> dict[str, Any] | None:
    """Return the cached merged result for a key, or None."""
    try:
        raw = get_redis().get(CACHE_PREFIX + key)
    except RedisError:
        return None
    return json.loads(raw) if raw else None


def store_cached_result(key: str, payload: dict[str, Any]) -> None:
    """Keep a merged result for a day."""
    get_redis().set(CACHE_PREFIX + key, json.dumps(payload), ex=current_app.config["IDENTIFY_CACHE_SECONDS"])


def count_cache(outcome: str) -> None:
    """Count a cache hit or miss in Prometheus and in Redis (the admin panel's daily rate)."""
    CACHE.labels(outcome).inc()
    try:
        with get_redis().pipeline(transaction=False) as pipe:
            _count_cache_in(pipe, outcome)
            pipe.execute()
    except RedisError:
        pass


def _cache_count_key(outcome: str) -> str:
    return f"{STATS_PREFIX}cache_{outcome}:{utcnow():%Y-%m-%d}"


def _count_cache_in(pipe: Any, outcome: str) -> None:
    key = _cache_count_key(outcome)
    pipe.incr(key)
    pipe.expire(key, 8 * 24 * 3600)


def refresh_plantid_quota() -> int | None:
    """Ask Plant.id how many identifications its key has left today, recorded for the status panel.

    Plant.id reports its credits only at /usage_info, not with each identification: a periodic job asks.
    """
    provider = build_providers(current_app.config, get_redis()).get("plantid")
    if provider is None:
        return None
    try:
        return provider.usage_info()
    except ProviderError as exc:
        log.warning("plant.id usage not read", extra={"event": "provider_quota_unread", "kind": exc.kind})
        return None


def cache_stats() -> dict[str, Any]:
    """Return today's cache hits, misses and hit rate."""
    day = f"{utcnow():%Y-%m-%d}"
    redis = get_redis()
    hits = int(redis.get(f"{STATS_PREFIX}cache_hit:{day}") or 0)
    misses = int(redis.get(f"{STATS_PREFIX}cache_miss:{day}") or 0)
    total = hits + misses
    return {"hits": hits, "misses": misses, "hit_rate": hits / total if total else None}


def take_quota(subject: str, *, cache_hit: bool = False, charge_for: uuid.UUID | None = None) -> None:
    """Count one identification against today's quota; raise QuotaExceeded past UPLOAD_QUOTA.

    cache_hit: the answer is in the cache already; it is counted (count_cache) in the same round trip.
    charge_for: the identification this pays for, remembered (a day) so that give_back_quota can return
    it when the identification fails. One already paid for (its failure awaits an automatic retry) is
    not charged again.
    """
    key = f"{QUOTA_PREFIX}{subject}:{utcnow():%Y-%m-%d}"
    charged = CHARGED_PREFIX + str(charge_for) if charge_for is not None else None
    redis = get_redis()
    # One round trip: the key names its day, so renewing its expiry on every use is harmless.
    with redis.pipeline(transaction=False) as pipe:
        pipe.incr(key).expire(key, 25 * 3600)
        if charge_for is not None:
            pipe.set(charged, key, ex=25 * 3600, nx=True)
        if cache_hit:
            _count_cache_in(pipe, "hit")
        done = pipe.execute()
    used = done[0]
    if charge_for is not None and not done[2]:
        redis.decr(key)  # paid for already
        return
    if used > current_app.config["UPLOAD_QUOTA"]:
        with redis.pipeline(transaction=False) as pipe:
            pipe.decr(key)
            if charge_for is not None:
                pipe.delete(charged)
            if cache_hit:
                pipe.decr(_cache_count_key("hit"))
            pipe.execute()
        raise QuotaExceeded()
    if cache_hit:
        CACHE.labels("hit").inc()


def give_back_quota(ident_id: uuid.UUID) -> None:
    """Return the unit of today's quota an identification was charged (take_quota), once: it failed,
    or was never kept. A unit charged on an earlier day is not returned: that day's quota is over."""
    redis = get_redis()
    try:
        key = redis.getdel(CHARGED_PREFIX + str(ident_id))
        if key is not None and key.decode().endswith(f":{utcnow():%Y-%m-%d}"):
            redis.decr(key)
    except RedisError:
        log.warning("quota not given back", extra={"event": "identify_quota_kept", "identification_id": str(ident_id)})


def quota_resets_in() -> int:
    """Return the seconds until the daily quota starts again: its keys name the day in UTC."""
    now = utcnow()
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, math.ceil((midnight - now).total_seconds()))


def channel(ident_id: uuid.UUID | str) -> str:
    """Return the pub/sub channel of an identification's progress events."""
    return f"{CHANNEL_PREFIX}{ident_id}"


def publish_event(ident_id: uuid.UUID | str, event: str, provider: str | None = None,
                  *, final: dict[str, Any] | None = None) -> None:
    """Record a provider's step and publish one progress event; never fail the job over Redis.

    final (from _final_state) is the finished row as its progress region shows it, sent with the end
    so that the relays draw it without reading the row again.
    """
    try:
        with get_redis().pipeline(transaction=False) as pipe:
            if provider:
                key = PROGRESS_PREFIX + str(ident_id)
                pipe.hset(key, provider, event)
                pipe.expire(key, PROGRESS_TTL)
            message = {"event": event, "provider": provider}
            if final is not None:
                message["final"] = final
            pipe.publish(channel(ident_id), json.dumps(message))
            pipe.execute()
    except RedisError:
        log.warning("progress event lost", extra={"event": "identify_event_lost", "step": event})


# Events published while an identification is under way; its progress region redraws from Redis alone.
IN_FLIGHT_EVENTS = frozenset({"queued", "running", "calling", "done", "failed"})


@dataclass(frozen=True)
class InFlight:
    """An identification under way, as one of its progress events describes it: enough to draw its steps."""

    id: uuid.UUID
    status: str
    providers: tuple[str, ...]
    is_final = False


def _final_state(ident: Identification, suggestions: Sequence[IdentificationSuggestion] = ()) -> dict[str, Any]:
    """Return what the progress region shows of a finished identification, for its last event.

    A failure shows its message only. A result shows the suggestions just stored (the row's collection
    may be unloaded) and, of their species, what the top one's care section needs (_SHOWN) when loaded.
    """
    if ident.status == "failed":
        return {"status": ident.status, "error": ident.error,
                "finished_at": as_utc(ident.finished_at).isoformat() if ident.finished_at else None}

    def shown(found: Species | None) -> dict[str, Any]:
        unloaded = inspect(found).unloaded if found is not None else ()
        values = {column.key: None if found is None or column.key in unloaded else getattr(found, column.key)
                  for column in _SHOWN}
        if values["enriched_at"] is not None:
            values["enriched_at"] = as_utc(values["enriched_at"]).isoformat()
        return values

    return {"status": ident.status, "error": ident.error, "partial": bool(ident.partial),
            "result": ident.result, "health": ident.health, "wants_health": bool(ident.wants_health),
            "from_cache": bool(ident.from_cache), "confidence": ident.confidence,
            "providers": list(ident.providers or []),
            "finished_at": as_utc(ident.finished_at).isoformat() if ident.finished_at else None,
            "suggestions": [{"rank": s.rank, "scientific_name": s.scientific_name, "confidence": s.confidence,
                             "providers": list(s.providers),
                             "species_id": str(s.species.id) if s.species is not None else None,
                             **(shown(s.species) if s.rank == 1 else
                                {"care_text": None, "slug": s.species.slug if s.species is not None else None})}
                            for s in suggestions]}


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _finished(ident_id: uuid.UUID, state: dict[str, Any]) -> Identification:
    """Rebuild a finished identification from its last event: unsaved objects, for drawing only."""
    if state["status"] not in FINAL_STATUSES:
        raise ValueError(state["status"])
    ident = Identification(id=ident_id, status=state["status"], error=state["error"],
                           partial=bool(state.get("partial")), result=state.get("result"),
                           health=state.get("health"), wants_health=bool(state.get("wants_health")),
                           from_cache=bool(state.get("from_cache")), confidence=state.get("confidence"),
                           providers=list(state.get("providers") or []), finished_at=_when(state.get("finished_at")))
    ident.suggestions = [IdentificationSuggestion(
        rank=s["rank"], scientific_name=s["scientific_name"], confidence=s["confidence"], providers=s["providers"],
        species_id=uuid.UUID(s["species_id"]) if s["species_id"] else None,
        species=Species(id=uuid.UUID(s["species_id"]), slug=s.get("slug"), care_text=s["care_text"],
                        enriched_at=_when(s.get("enriched_at")), locked_fields=s.get("locked_fields") or [])
        if s["species_id"] else None)
        for s in state.get("suggestions", [])]
    return ident


def from_event(ident_id: uuid.UUID, data: str | bytes) -> InFlight | Identification | None:
    """Return what a published progress event shows: a step under way (InFlight), the end it carries (an
    unsaved Identification, never to be added to a session), or None when the row must be read.

    A provider's "failed" is a step; "failed" without a provider is the identification's end.
    """
    try:
        message = json.loads(data)
    except (TypeError, ValueError):
        return None
    if not isinstance(message, dict):
        return None
    event, provider = message.get("event"), message.get("provider")
    if isinstance(message.get("final"), dict):
        try:
            return _finished(ident_id, message["final"])
        except (KeyError, TypeError, ValueError, AttributeError):
            return None  # written by another version: the row says the same
    if event not in IN_FLIGHT_EVENTS or (event == "failed" and not provider):
        return None
    return InFlight(ident_id, "queued" if event == "queued" else "running", tuple(configured_providers()))


def retry_pending(ident: Identification) -> bool:
    """Tell whether a failed identification awaits its automatic retry, so that its page keeps asking:
    its failure promised one (RETRY_AUTOMATICALLY) and the longest delay, with some grace, has not passed."""
    if (ident.status != "failed" or not (ident.error or "").endswith(messages.RETRY_AUTOMATICALLY)
            or ident.finished_at is None):
        return False
    return utcnow() - as_utc(ident.finished_at) < timedelta(seconds=max(AUTO_RETRY_DELAYS)) + RETRY_GRACE


def care_pending(ident: Identification) -> bool:
    """Tell whether the top species' care text may still arrive for this result: its identification
    finished less than CARE_WAIT ago, queued enrichment then, and none has run since."""
    top = ident.suggestions[0].species if ident.is_final and ident.suggestions else None
    if top is None or ident.finished_at is None:
        return False
    finished, config = as_utc(ident.finished_at), current_app.config
    return (utcnow() - finished < CARE_WAIT and wants_care_text(top, config)
            and wants_enrichment(top, config, finished))


def provider_steps(ident: Identification | InFlight) -> list[tuple[str, str]]:
    """Return (provider label, step) for each provider this identification calls (none once it is final)."""
    if ident.is_final:
        return []
    try:
        raw = get_redis().hgetall(PROGRESS_PREFIX + str(ident.id))
    except RedisError:
        raw = {}
    steps = {k.decode() if isinstance(k, bytes) else k: v.decode() if isinstance(v, bytes) else v
             for k, v in raw.items()}
    names = ident.providers or list(steps) or configured_providers()
    return [(PROVIDER_LABELS.get(name, name), steps.get(name, "waiting")) for name in names]


# What a progress region drawn from the row shows: the row's status and last change, and the steps drawn.
ProgressMark = tuple[str, datetime, tuple[tuple[str, str], ...]]


def progress_mark(ident: Identification, steps: Sequence[tuple[str, str]]) -> ProgressMark:
    """Return the mark of a progress region just drawn from this (refreshed) row and these steps."""
    return ident.status, ident.updated_at, tuple(steps)


def progress_changed(ident_id: uuid.UUID, mark: ProgressMark) -> bool:
    """Tell whether a progress region drawn at mark is out of date: its row or steps changed since, or
    the row is stuck (drawing it again sweeps it). Two columns and the steps: a socket checks this
    every few seconds with no events, and redrawing costs a joined query, a render and a frame.
    """
    row = db.session.execute(select(Identification.status, Identification.updated_at, Identification.providers)
                             .where(Identification.id == ident_id)).one_or_none()
    if row is None or (row.status, row.updated_at) != mark[:2] or _is_stuck(row.status, row.updated_at):
        return True
    return tuple(provider_steps(InFlight(ident_id, row.status, tuple(row.providers or ())))) != mark[2]


# ---- submitting ----------------------------------------------------------------------------------

def submit_identification(photos: CleanPhotos, organs: Sequence[str], *, owner_id: uuid.UUID | None,
                          session_key: str | None, quota_subject: str, latitude: float | None = None,
                          longitude: float | None = None, raw_key: str | None = None,
                          wants_health: bool = False) -> Submitted:
    """Store the photos and answer from the cache, or queue a job; raise ImageRejected, StorageError,
    QueueDown or QuotaExceeded, and then nothing is kept.

    The photos' decoding checks run in other threads while the photos are written. The job is queued
    before the row is committed and carries what the providers need, so their calls start at once; it
    reads the row while it waits for their answers, and makes the thumbnails then too.
    """
    images = photos.images
    ident_id = uuid.uuid4()
    take_quota(quota_subject, charge_for=ident_id)
    key = cache_key_for(images, organs, health=wants_health, place=place_of(latitude, longitude))
    ident = Identification(id=ident_id, owner_id=owner_id, session_key=session_key, status="queued",
                           cache_key=key, latitude=latitude, longitude=longitude, demo=is_demo(),
                           providers=configured_providers(), wants_health=wants_health)
    stored = [{"storage_key": f"identify/{ident_id}/{position}{image.extension}",
               "thumbnail_key": f"identify/{ident_id}/{position}-thumb.jpg", "content_type": image.content_type,
               "sha256": image.sha256, "width": image.width, "height": image.height}
              for position, image in enumerate(images)]
    saved: list[str] = []
    try:
        try:
            storage = get_storage()
            for position, (image, organ, record) in enumerate(zip(images, organs, stored, strict=True)):
                storage.save(record["storage_key"], image.data, image.content_type)
                saved.append(record["storage_key"])
                ident.images.append(IdentificationImage(position=position, organ=organ, **record))
            db.session.add(ident)  # written by the commit; a job run inline reads it from this session
        finally:
            photos.verify()  # a damaged photo is refused before anything is kept or sent
        cached = cached_result(key)
        if cached is None:
            try:
                enqueue_identification(ident_id, sent=_Work.of(ident).to_dict())
            except RedisError as exc:
                raise QueueDown() from exc
        db.session.commit()
    except BaseException:
        db.session.rollback()
        _delete_quietly(saved)
        give_back_quota(ident_id)
        raise
    if cached is not None:
        count_cache("hit")
        _complete(ident, cached, from_cache=True)
        for image, record in zip(images, stored, strict=True):  # no job will make them
            _store_thumbnail(record["thumbnail_key"], lambda image=image: image.data)
    if raw_key:
        _remember_upload(raw_key, key, stored)
    log.info("identification submitted", extra={"event": "identification_submitted", "identification_id": str(ident_id),
                                                "outcome": "cache_hit" if cached is not None else "queued"})
    return Submitted(ident_id, ident=ident if cached is not None else None)


def _store_thumbnail(thumbnail_key: str, photo: Callable[[], bytes]) -> None:
    """Make and store a photo's thumbnail unless it exists; if that fails, pages show the photo itself
    in its place (see image_bytes)."""
    storage = get_storage()
    try:
        if not storage.exists(thumbnail_key):
            storage.save(thumbnail_key, make_thumbnail(photo()), "image/jpeg")
    except (StorageError, OSError):
        log.warning("thumbnail not stored", extra={"event": "identify_thumbnail_lost", "key": thumbnail_key})


def _thumbnail_maker(work: _Work) -> Callable[[], None]:
    """Return a function that stores the photos' missing thumbnails; calls after the first do nothing."""
    pending = [(photo.storage_key, photo.thumbnail_key) for photo in work.photos]

    def make() -> None:
        storage = get_storage()
        while pending:
            photo_key, thumbnail_key = pending.pop()
            _store_thumbnail(thumbnail_key, lambda photo_key=photo_key: storage.open(photo_key))
    return make


def enqueue_identification(ident_id: uuid.UUID, *, delay: int | None = None,
                           sent: dict[str, Any] | None = None) -> None:
    """Put an identification on the fast queue (retried twice if a worker dies under it).

    sent is what the providers are sent (_Work.to_dict()), for a job queued before its row is
    committed; without it the job reads the row first. A retry is announced ("queued") to the pages
    showing it; a new upload's job is not: nobody can be listening to an id made a moment ago.
    """
    from rq import Callback, Retry

    from app.identify.jobs import identification_job_failed, run_identification_job
    if sent is None:
        publish_event(ident_id, "queued")
    kwargs = {"job_timeout": current_app.config["IDENTIFY_JOB_TIMEOUT"], "retry": Retry(max=2, interval=5),
              "on_failure": Callback(identification_job_failed), "result_ttl": 3600, "failure_ttl": 24 * 3600}
    args = (str(ident_id), sent) if sent else (str(ident_id),)
    queue = get_queue("fast")
    if delay:
        queue.enqueue_in(timedelta(seconds=delay), run_identification_job, *args, **kwargs)
    else:
        queue.enqueue(run_identification_job, *args, **kwargs)


def forget_photos(images: Sequence[tuple[str, str]]) -> int:
    """Delete the stored photos (and thumbnails) of deleted identifications that no other one shares;
    return how many photos went. images: (storage_key, thumbnail_key) pairs.

    An upload of the same bytes shares the first one's photos (submit_known_upload), so a photo goes
    only once no row names it, and known_upload stops offering it (FORGOTTEN_KEY, for as long as its
    upload stays known).
    """
    keys = {storage_key: thumbnail_key for storage_key, thumbnail_key in images}
    if not keys:
        return 0
    shared = set(db.session.scalars(select(IdentificationImage.storage_key)
                                    .where(IdentificationImage.storage_key.in_(keys))))
    gone = [key for key in keys if key not in shared]
    if gone:
        try:
            with get_redis().pipeline() as pipe:
                pipe.sadd(FORGOTTEN_KEY, *gone)
                pipe.expire(FORGOTTEN_KEY, current_app.config["IDENTIFY_CACHE_SECONDS"])
                pipe.execute()
        except RedisError:
            log.warning("photos not forgotten", extra={"event": "identify_forget_lost"})
        _delete_quietly([k for key in gone for k in (key, keys[key])])
    return len(gone)


def _delete_quietly(keys: Sequence[str]) -> None:
    storage = get_storage()
    for key in keys:
        try:
            storage.delete(key)
        except (StorageError, ValueError):
            log.warning("photo left behind", extra={"event": "identify_cleanup_failed", "key": key})


# ---- the job -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Calls:
    results: list[ProviderResult]
    errors: dict[str, ProviderError]


# Provider clients kept between jobs, so their HTTP sessions keep warm (TLS) connections to the APIs.
_IDLE_PROVIDERS: dict[tuple, list[dict[str, Any]]] = {}
_IDLE_LOCK = threading.Lock()
_IDLE_SETS_PER_KEY = 4
_IDLE_KEYS = 8
_PROVIDER_SETTINGS = ("PLANTID_", "PLANTNET_", "PROVIDER_", "BREAKER_")


def _providers_key() -> tuple:
    config = current_app.config
    settings = tuple(sorted((k, repr(v)) for k, v in config.items() if k.startswith(_PROVIDER_SETTINGS)))
    return os.getpid(), id(get_redis()), settings


def _take_providers(key: tuple) -> dict[str, Any]:
    with _IDLE_LOCK:
        idle = _IDLE_PROVIDERS.get(key)
        if idle:
            return idle.pop()
    return build_providers(current_app.config, get_redis())


def _give_back_providers(key: tuple, providers: dict[str, Any]) -> None:
    with _IDLE_LOCK:
        if key not in _IDLE_PROVIDERS and len(_IDLE_PROVIDERS) >= _IDLE_KEYS:
            # Settings changed (tests, a config reload): forget the old clients rather than grow.
            stale = [p for sets in _IDLE_PROVIDERS.values() for p in sets]
            _IDLE_PROVIDERS.clear()
        else:
            stale = []
        idle = _IDLE_PROVIDERS.setdefault(key, [])
        if len(idle) < _IDLE_SETS_PER_KEY:
            idle.append(providers)
        else:
            stale.append(providers)
    for old in stale:
        for provider in old.values():
            provider.close()


# The threads provider calls run in, kept between jobs: starting and joining them per job is time the
# user waits for once the slower provider has answered.
_CALL_THREADS = 8
_call_pools: dict[int, ThreadPoolExecutor] = {}


def _call_pool() -> ThreadPoolExecutor:
    with _IDLE_LOCK:
        # One per process: a forked child inherits the pool but not its threads.
        pool = _call_pools.get(os.getpid())
        if pool is None:
            _call_pools.clear()
            pool = _call_pools[os.getpid()] = ThreadPoolExecutor(max_workers=_CALL_THREADS,
                                                                 thread_name_prefix="identify")
        return pool


_SEND_WAIT = 2.0  # seconds, at most: the bookkeeping must not wait on a call that hangs before it sends


def _call(provider: Any, sent: threading.Event, images: list[ImageInput], **kwargs: Any) -> ProviderResult:
    """Call a provider, setting sent as its request goes out, or as the call ends if it never does."""
    try:
        with telling_when_sent(sent.set):
            return provider.identify(images, **kwargs)
    finally:
        sent.set()


def _call_providers(ident_id: uuid.UUID, work: _Work, *, while_waiting: Callable[[], None] | None = None,
                    on_early_answer: Callable[[ProviderResult], None] | None = None) -> _Calls:
    """Call every configured provider at once; only the provider calls run in the pool's threads.

    while_waiting() runs once every call's request is out (or its call is over), and
    on_early_answer(result) for each answer but the last, so their work costs the user no time.
    """
    key = _providers_key()
    providers = _take_providers(key)
    storage = get_storage()
    images = [ImageInput(storage.open(photo.storage_key), photo.organ, photo.content_type)
              for photo in work.photos]
    lat, lon, health = work.latitude, work.longitude, work.health
    results: list[ProviderResult] = []
    errors: dict[str, ProviderError] = {}
    pool = _call_pool()
    sent = {name: threading.Event() for name in providers}
    futures = {pool.submit(_call, provider, sent[name], images, latitude=lat, longitude=lon,
                           **({"health": True} if health and provider.supports_health else {})): name
               for name, provider in providers.items()}
    try:
        # The requests go out first: until then the bookkeeping would hold the GIL their threads need.
        deadline = time.monotonic() + _SEND_WAIT
        for event in sent.values():
            event.wait(max(0.0, deadline - time.monotonic()))
        if while_waiting is not None:
            while_waiting()
        for name in providers:
            publish_event(ident_id, "calling", name)
        for answered, future in enumerate(as_completed(futures), start=1):
            name = futures[future]
            try:
                results.append(future.result())
                step = "done"
            except ProviderError as exc:
                errors[name] = exc
                step = "failed"
            except Exception as exc:  # a client bug must not sink the other provider's answer
                log.exception("provider crashed", extra={"event": "provider_crashed", "provider": name})
                errors[name] = ProviderError(name, "bad_response", message=repr(exc)[:200])
                step = "failed"
            if answered < len(futures):
                # The last answer's step is not drawn: the end follows at once, and the user waits for it.
                publish_event(ident_id, step, name)
                if step == "done" and on_early_answer is not None:
                    on_early_answer(results[-1])
    finally:
        # A client goes back to the idle set only once its call is over, however this job ends.
        wait_all(futures)
        _give_back_providers(key, providers)
    results.sort(key=lambda r: r.provider)
    return _Calls(results, errors)


@dataclass(frozen=True)
class _Photo:
    storage_key: str
    thumbnail_key: str
    organ: str
    content_type: str


@dataclass(frozen=True)
class _Work:
    """What an identification's providers are sent: its stored photos, their organs, the location."""

    cache_key: str
    photos: tuple[_Photo, ...]
    latitude: float | None = None
    longitude: float | None = None
    health: bool = False

    @classmethod
    def of(cls, ident: Identification) -> _Work:
        return cls(ident.cache_key, tuple(_Photo(i.storage_key, i.thumbnail_key, i.organ, i.content_type)
                                          for i in sorted(ident.images, key=lambda i: i.position)),
                   ident.latitude, ident.longitude, bool(ident.wants_health))

    def to_dict(self) -> dict[str, Any]:
        return {"cache_key": self.cache_key, "photos": [astuple(p) for p in self.photos],
                "latitude": self.latitude, "longitude": self.longitude, "health": self.health}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> _Work:
        return cls(data["cache_key"], tuple(_Photo(*photo) for photo in data["photos"]),
                   data.get("latitude"), data.get("longitude"), bool(data.get("health")))


class _Row:
    """The identification a job works on, read when first needed.

    A job queued with what its providers are sent may start before the upload's commit: then the
    row is waited for, up to IDENTIFY_ROW_WAIT_SECONDS. None means there is nothing to write to: the
    upload was withdrawn (its request failed), or the row is already final (a rerun after a crash).
    """

    def __init__(self, ident_id: uuid.UUID, *, wait: bool) -> None:
        self.id = ident_id
        self.wait = wait
        self.status: str | None = None
        self._ident: Identification | None = None
        self._read = False

    def get(self) -> Identification | None:
        if self._read:
            return self._ident
        self._read = True
        query = (select(Identification).where(Identification.id == self.id)
                 .options(joinedload(Identification.images)))
        deadline = time.monotonic() + (current_app.config["IDENTIFY_ROW_WAIT_SECONDS"] if self.wait else 0)
        ident = db.session.scalars(query).unique().one_or_none()
        while ident is None and time.monotonic() < deadline:
            db.session.rollback()  # a new snapshot, which sees a commit made meanwhile
            time.sleep(0.01)
            ident = db.session.scalars(query).unique().one_or_none()
        if ident is None:
            log.warning("identification withdrawn", extra={"event": "identification_withdrawn",
                                                            "identification_id": str(self.id)})
            return None
        self.status = ident.status
        if ident.status in ("completed", "partial"):
            return None
        # Stored as "running" once the provider calls are under way (or with the result, if the cache answers).
        ident.status, ident.error = "running", None
        ident.attempts += 1
        ident.providers = configured_providers()
        self._ident = ident
        return ident

    @property
    def loaded(self) -> Identification | None:
        return self._ident


def run_identification(ident_id: uuid.UUID | str, sent: dict[str, Any] | None = None) -> str | None:
    """Identify the stored photos: cache, then one locked set of provider calls per photo; return the status.

    With sent (what its providers are sent) the calls start before the row is read.
    """
    row = _Row(uuid.UUID(str(ident_id)), wait=sent is not None)
    if sent is None:
        ident = row.get()
        if ident is None:
            return row.status
        work = _Work.of(ident)
    else:
        work = _Work.from_dict(sent)
    make_thumbnails = _thumbnail_maker(work)
    try:
        _identify(row, work, make_thumbnails)
        if row.loaded is not None:
            make_thumbnails()  # unless they were made while waiting for an answer
    except BaseException:
        db.session.rollback()
        if row.loaded is not None:
            # Until RQ runs the job again (if it has a retry left) the user sees a failure they can retry.
            job = get_current_job()
            retried = job is not None and (job.retries_left or 0) > 0
            then = messages.RETRY_AUTOMATICALLY if retried else messages.RETRY_LATER
            _fail(row.loaded, messages.IDENTIFY_CRASHED.format(then=then))
        raise
    return row.loaded.status if row.loaded is not None else row.status


def _commit_keeping_state() -> None:
    """Commit without expiring the session's objects, whose values the caller has just written.

    After an expiring commit every read of them is a query, and a read while the job waits for the
    providers or the stampede lock checks a connection out again and holds it meanwhile.
    """
    session = db.session()
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = True


def _mark_running(ident: Identification) -> None:
    _commit_keeping_state()
    publish_event(ident.id, "running")


def _identify(row: _Row, work: _Work, make_thumbnails: Callable[[], None]) -> None:
    if not configured_providers():
        if (ident := row.get()) is not None:
            _fail(ident, messages.IDENTIFY_NO_PROVIDER)
        return
    if _answer_from_cache(row, work):
        return
    config = current_app.config
    lock = get_redis().lock(LOCK_PREFIX + work.cache_key, timeout=config["IDENTIFY_LOCK_SECONDS"],
                            blocking_timeout=config["IDENTIFY_LOCK_SECONDS"], sleep=0.05)
    job = get_current_job()
    token = f"job:{job.id}".encode() if job is not None else None
    acquired = lock.acquire(blocking=False, token=token) or _take_back(lock, token)
    if not acquired:
        # Twins wait for the first upload's answer; none may hold a database connection meanwhile.
        if (ident := row.get()) is None:
            return
        _mark_running(ident)
        make_thumbnails()
        acquired = lock.acquire()
    try:
        # Whoever held the lock before us may have filled the cache while we waited.
        if _answer_from_cache(row, work):
            return

        def while_waiting() -> None:
            if (ident := row.get()) is not None:
                _mark_running(ident)
                make_thumbnails()

        named: dict[str, Species] = {}

        def on_early_answer(result: ProviderResult) -> None:
            # Another answer is still to come: look up the species named so far meanwhile.
            if row.loaded is None:
                return
            try:
                named.update(species_named([s.scientific_name for s in result.suggestions], also_load=_SHOWN))
                _commit_keeping_state()  # the connection goes back while the job waits
            except SQLAlchemyError:
                db.session.rollback()  # they are looked up with the others once the last answer is in
                named.clear()

        calls = _call_providers(row.id, work, while_waiting=while_waiting, on_early_answer=on_early_answer)
        if (ident := row.get()) is not None:
            _finish(ident, calls, named)
        count_cache("miss")  # after the answer is out, which waits for nothing else
    finally:
        if acquired:
            try:
                lock.release()
            except LockError:
                log.warning("identify lock expired before release", extra={"event": "identify_lock_expired"})


def _take_back(lock: Lock, token: bytes | None) -> bool:
    """Take the photo's lock from an earlier run of this same job: its worker died holding it.

    Without this the job, handed to another worker, would wait out the lock like any twin.
    """
    if token is None or lock.redis.get(lock.name) != token:
        return False
    lock.local.token = token
    try:
        lock.reacquire()  # only while the token is still ours: atomic in Redis
    except LockError:
        lock.local.token = None
        return False
    log.info("identify lock taken back", extra={"event": "identify_lock_taken_back"})
    return True


def _answer_from_cache(row: _Row, work: _Work) -> bool:
    cached = cached_result(work.cache_key)
    if cached is None:
        return False
    if (ident := row.get()) is not None:
        count_cache("hit")
        _complete(ident, cached, from_cache=True)
    return True


def _finish(ident: Identification, calls: _Calls, named: Mapping[str, Species] | None = None) -> None:
    """Store the merged answers (named: species looked up already, by normalised name), or the failure."""
    if not calls.results:
        # The message promises an automatic retry only when one is scheduled: not after an answer a
        # retry cannot change (a refused key, a spent quota), nor once the retries are used up.
        retry = all(e.retryable for e in calls.errors.values()) and ident.attempts <= len(AUTO_RETRY_DELAYS)
        _fail(ident, _both_failed(calls.errors, retry=retry))
        kinds = {e.kind for e in calls.errors.values()}
        if retry:
            try:
                enqueue_identification(ident.id, delay=AUTO_RETRY_DELAYS[ident.attempts - 1])
            except RedisError:
                log.warning("automatic retry not scheduled", extra={"event": "identify_retry_lost"})
                ident.error = _both_failed(calls.errors, retry=False)
                _commit_keeping_state()
        log.warning("identification failed", extra={"event": "identification_failed",
                                                    "identification_id": str(ident.id), "kinds": sorted(kinds)})
        return
    merged = merge_suggestions(calls.results)
    payload = {"suggestions": [m.to_dict() for m in merged[:KEPT_SUGGESTIONS]],
               "providers": [r.provider for r in calls.results],
               "failed": {name: error.kind for name, error in sorted(calls.errors.items())},
               "health": next((r.health.to_dict() for r in calls.results if r.health), None)}
    _complete(ident, payload, from_cache=False, named=named)
    if not calls.errors:
        # Stored after the user has the answer (the lock still keeps twins waiting for it).
        # A partial answer is not cached: the next upload of this photo deserves both providers.
        try:
            store_cached_result(ident.cache_key, payload)
        except RedisError:
            log.warning("result not cached", extra={"event": "identify_cache_lost"})


def _both_failed(errors: Mapping[str, ProviderError], *, retry: bool) -> str:
    """Say why each provider gave no answer, and what happens next."""
    reasons = "; ".join(_why(name, error.kind) for name, error in sorted(errors.items()))
    return messages.BOTH_FAILED.format(reasons=reasons,
                                       then=messages.RETRY_AUTOMATICALLY if retry else messages.RETRY_LATER)


def _why(provider: str, kind: str) -> str:
    """Say why a provider gave no answer: "Plant.id did not accept this site's key"."""
    return f"{PROVIDER_LABELS.get(provider, provider)} {messages.PROVIDER_FAILURES[kind]}"


def _complete(ident: Identification, payload: dict[str, Any], *, from_cache: bool, announce: bool = True,
              named: Mapping[str, Species] | None = None) -> None:
    """Store the suggestions, link their species, mark the identification final and announce it.

    One transaction: the species are looked up together (but those in named, loaded with _SHOWN) and
    new ones added, beside the result.
    Species counts are added later, in batches, by count_finished_identifications.
    """
    merged = [MergedSuggestion.from_dict(s) for s in payload.get("suggestions", [])][:KEPT_SUGGESTIONS]
    failed = payload.get("failed") or {}  # provider: error kind (a cached answer has none)
    facts = [SpeciesFacts(m.scientific_name, authorship=m.authorship, family=m.family, genus=m.genus,
                          common_names=tuple(m.common_names)) for m in merged]
    with db.session.no_autoflush:
        species = species_for(facts, also_load=_SHOWN, loaded=named)
    stored_before = inspect(ident).persistent
    if stored_before and ident.attempts > 1:
        # A retried job may have stored suggestions before.
        db.session.execute(delete(IdentificationSuggestion)
                           .where(IdentificationSuggestion.identification_id == ident.id))
    suggestions = [IdentificationSuggestion(
        identification_id=ident.id, rank=rank, species=found, species_id=found.id if found is not None else None,
        scientific_name=suggestion.scientific_name, confidence=suggestion.confidence, scores=suggestion.scores,
        providers=list(suggestion.providers))
        for rank, (suggestion, found) in enumerate(zip(merged, species), start=1)]
    if not stored_before:
        ident.suggestions = suggestions  # a new row: its page can render from memory
    ident.result = payload.get("suggestions", [])
    ident.health = payload.get("health")
    ident.confidence = merged[0].confidence if merged else None
    ident.partial = bool(failed)
    if failed:
        other = ", ".join(PROVIDER_LABELS.get(p, p) for p in payload.get("providers", []))
        wording = messages.PARTIAL_RESULT if merged else messages.PARTIAL_NOTHING_FOUND
        ident.error = wording.format(why=_why(*next(iter(failed.items()))), other=other)
    else:
        ident.error = None
    ident.providers = list(payload.get("providers") or ident.providers)
    ident.status = "partial" if failed else "completed"
    ident.from_cache = from_cache
    ident.finished_at = utcnow()
    if stored_before:
        # Written beside the identification rather than through its (unloaded) collection: no read first.
        if suggestions:
            db.session.execute(insert(IdentificationSuggestion.__table__), _insert_values(suggestions))
        _commit_keeping_state()
    else:
        _insert_new(ident)
    if announce:
        publish_event(ident.id, "completed", final=_final_state(ident, suggestions))
    IDENTIFICATIONS.labels(ident.status).inc()
    if species and species[0] is not None:
        _enqueue_enrichment(species[0])


def _insert_new(ident: Identification) -> None:
    """Write a new identification with its photos and suggestions, and commit, keeping the objects unsaved.

    Three INSERTs through SQLAlchemy Core: the ORM's flush of the same objects costs a cache hit (which
    writes nothing else) about as much again. The objects stay transient, for drawing only.
    """
    ident.created_at = ident.updated_at = ident.finished_at or utcnow()
    for objects in ([ident], ident.images, ident.suggestions):
        if objects:
            db.session.execute(insert(objects[0].__table__), _insert_values(objects))
    _commit_keeping_state()


def _insert_values(objects: Sequence[Any]) -> list[dict[str, Any]]:
    """Return the column values of new objects of one model, for one INSERT of them all.

    A column unset (None) in every object is left out, so it gets its default, or SQL NULL (None would
    be stored as JSON null in a JSON column).
    """
    columns = objects[0].__table__.columns
    rows = [{column.key: getattr(obj, column.key) for column in columns} for obj in objects]
    keys = [column.key for column in columns if any(row[column.key] is not None for row in rows)]
    return [{key: row[key] for key in keys} for row in rows]


def _fail(ident: Identification, message: str) -> None:
    ident.status, ident.error, ident.finished_at = "failed", message, utcnow()
    _commit_keeping_state()
    IDENTIFICATIONS.labels("failed").inc()
    publish_event(ident.id, "failed", final=_final_state(ident))
    if not message.endswith(messages.RETRY_AUTOMATICALLY):
        give_back_quota(ident.id)  # a failure costs the gardener nothing; a retry is charged again


def _enqueue_enrichment(species: Species) -> None:
    """Queue enrichment of the top species unless it could add nothing (done already, or tried moments ago)."""
    if not wants_enrichment(species, current_app.config, utcnow()):
        return
    try:
        queue_enrichment(species.id)
    except RedisError:
        log.warning("enrichment not queued", extra={"event": "enrichment_lost"})
    except Exception:
        # Enrichment is optional: an inline (test) run that fails must not undo a finished result.
        log.exception("enrichment failed", extra={"event": "enrichment_failed"})


def retry_identification(ident: Identification, quota_subject: str) -> bool:
    """Queue a failed or partial identification again from its stored photos (both providers are asked);
    False when it is neither. It is charged to today's quota like an upload (raise QuotaExceeded), unless
    its unit was not given back (a failure awaiting its automatic retry)."""
    if ident.status not in ("failed", "partial"):
        return False
    take_quota(quota_subject, charge_for=ident.id)
    before = ident.status, ident.error, ident.finished_at
    ident.status, ident.error, ident.finished_at = "queued", None, None
    db.session.commit()  # before the job, which reads the row
    try:
        get_redis().delete(PROGRESS_PREFIX + str(ident.id))
        enqueue_identification(ident.id)
    except RedisError:
        ident.status, ident.error, ident.finished_at = before  # as it was: its Retry button still works
        db.session.commit()
        give_back_quota(ident.id)
        raise
    return True


def count_finished_identifications(batch: int = COUNT_BATCH, max_batches: int = 10) -> int:
    """Add finished, uncounted identifications to their top species' counts, in batches; return how many.

    Each batch is one transaction: the species totals, the daily counts (by the day it finished) and
    the rows' counted_at move together, and locked rows are skipped, so two workers never count one twice.
    """
    top = and_(IdentificationSuggestion.identification_id == Identification.id, IdentificationSuggestion.rank == 1)
    counted = 0
    for _ in range(max_batches):
        rows = db.session.execute(
            select(Identification.id, Identification.finished_at, IdentificationSuggestion.species_id)
            .outerjoin(IdentificationSuggestion, top)
            .where(Identification.counted_at.is_(None), Identification.status.in_(("completed", "partial")))
            .order_by(Identification.finished_at).limit(batch)
            .with_for_update(of=Identification, skip_locked=True)).all()
        if not rows:
            break
        counts: Counter[tuple[uuid.UUID, date]] = Counter(
            (species_id, (finished or utcnow()).date()) for _, finished, species_id in rows if species_id)
        add_identification_counts(counts)
        db.session.execute(update(Identification).where(Identification.id.in_([row[0] for row in rows]))
                           .values(counted_at=utcnow()).execution_options(synchronize_session=False))
        db.session.commit()
        counted += len(rows)
        if len(rows) < batch:
            break
    if counted:
        fragments.invalidate("species")  # totals, "this week" and popularity on species pages
        log.info("identifications counted", extra={"event": "identification_count", "count": counted})
    return counted


def _is_stuck(status: str, updated: datetime) -> bool:
    if status in FINAL_STATUSES:
        return False
    return utcnow() - as_utc(updated) >= timedelta(seconds=current_app.config["IDENTIFY_STUCK_SECONDS"])


def sweep_if_stuck(ident: Identification) -> bool:
    """Mark an identification failed when it has been queued or running too long (a dead worker)."""
    if not _is_stuck(ident.status, ident.updated_at):
        return False
    _fail(ident, messages.IDENTIFY_STUCK)
    log.warning("identification swept", extra={"event": "identification_stuck", "identification_id": str(ident.id)})
    return True


def fail_abandoned(ident_id: str) -> None:
    """Mark failed an identification whose job was lost with its worker, retries and all."""
    ident = db.session.get(Identification, uuid.UUID(ident_id))
    if ident is None or ident.is_final:
        return
    _fail(ident, messages.IDENTIFY_CRASHED.format(then=messages.RETRY_LATER))
    log.warning("identification abandoned", extra={"event": "identification_abandoned",
                                                   "identification_id": ident_id})


def sweep_stuck_identifications(limit: int = 100) -> int:
    """Mark failed every identification queued or running too long (a dead worker); return how many."""
    cutoff = utcnow() - timedelta(seconds=current_app.config["IDENTIFY_STUCK_SECONDS"])
    query = (select(Identification)
             .where(Identification.status.in_(("queued", "running")), Identification.updated_at < cutoff)
             .order_by(Identification.updated_at).limit(limit))
    swept = sum(1 for ident in db.session.scalars(query).all() if sweep_if_stuck(ident))
    if swept:
        log.info("stuck identifications swept", extra={"event": "identification_sweep", "count": swept})
    return swept


def claim_anonymous(user_id: uuid.UUID, session_key: str | None) -> int:
    """Give a user the identifications they made signed out in this browser session; return how many."""
    if not session_key:
        return 0
    claimed = db.session.execute(
        update(Identification).where(Identification.owner_id.is_(None), Identification.session_key == session_key)
        .values(owner_id=user_id, session_key=None).execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    if claimed:
        log.info("identifications claimed", extra={"event": "identifications_claimed", "count": claimed})
    return claimed


# ---- reading -------------------------------------------------------------------------------------

def can_see(ident: Identification, user_id: uuid.UUID | None, session_key: str | None) -> bool:
    """Tell whether this user (or anonymous session) owns the identification."""
    if ident.owner_id is not None:
        return ident.owner_id == user_id
    return bool(session_key) and ident.session_key == session_key


def get_visible(ident_id: uuid.UUID, user_id: uuid.UUID | None, session_key: str | None,
                *, allow_public: bool = True, current: bool = False) -> Identification | None:
    """Return the identification if the user owns it (or it is public), else None.

    current=True reads its latest state (a job in another process may have changed it) with its photos,
    suggestions and their species in one query, and sweeps it if it is stuck.
    """
    if current:
        ident = _current(ident_id)
    else:
        ident = db.session.get(Identification, ident_id)
    if ident is None or not (can_see(ident, user_id, session_key) or (allow_public and ident.is_public)):
        return None
    if current:
        sweep_if_stuck(ident)
    return ident


def _current(ident_id: uuid.UUID) -> Identification | None:
    # One round trip: a handful of photos times five suggestions is a small join. Of a species, the
    # result shows only its care text (_SHOWN).
    query = (select(Identification).where(Identification.id == ident_id)
             .options(joinedload(Identification.images),
                      joinedload(Identification.suggestions).joinedload(IdentificationSuggestion.species)
                      .load_only(*_SHOWN))
             .execution_options(populate_existing=True))
    return db.session.scalars(query).unique().one_or_none()


def refresh(ident: Identification) -> Identification:
    """Reload an identification's state, photos and suggestions (a job in another process may have changed it)."""
    ident = _current(ident.id) or ident
    sweep_if_stuck(ident)
    return ident


SPECIES_PHOTOS = 8


def public_photos(species_id: uuid.UUID, limit: int = SPECIES_PHOTOS) -> list[tuple[uuid.UUID, int]]:
    """Return (identification id, photo position) of the newest shared photos identified as this species."""
    top = and_(IdentificationSuggestion.identification_id == Identification.id, IdentificationSuggestion.rank == 1)
    rows = db.session.execute(
        select(IdentificationImage.identification_id, IdentificationImage.position)
        .join(Identification, Identification.id == IdentificationImage.identification_id)
        .join(IdentificationSuggestion, top)
        .where(IdentificationSuggestion.species_id == species_id, Identification.is_public.is_(True),
               Identification.status.in_(("completed", "partial")))
        .order_by(Identification.created_at.desc(), IdentificationImage.position)
        .limit(limit))
    return [(ident_id, position) for ident_id, position in rows]


def set_public(ident: Identification, public: bool) -> None:
    """Share an identification with everyone, or make it private again.

    Raise ValueError for sharing one that is not finished, or failed: there is no result to show.
    """
    if public and (not ident.is_final or ident.status == "failed"):
        raise ValueError(f"identification {ident.id} is {ident.status}: nothing to share")
    ident.is_public = public
    db.session.commit()
    cache.delete(RECENT_PUBLIC_KEY)
    # Species pages show the public photos of their species, the home page the latest shared results:
    # one made private must leave both at once.
    fragments.invalidate("species", "home")
    log.info("identification visibility", extra={"event": "identification_shared",
                                                  "identification_id": str(ident.id), "outcome": str(public)})


@dataclass(frozen=True)
class HistoryPage:
    items: list[Identification]
    next_cursor: str | None


def _cursor(ident: Identification) -> str:
    return f"{as_utc(ident.created_at).isoformat()}_{ident.id}"


def _parse_cursor(raw: str | None) -> tuple[datetime, uuid.UUID] | None:
    # None for no cursor (the first page); a cursor this site did not write raises ValueError.
    if not raw:
        return None
    stamp, _, ident_id = raw.partition("_")
    return datetime.fromisoformat(stamp), uuid.UUID(ident_id)


def history(user_id: uuid.UUID | None, session_key: str | None, *, high_only: bool = False,
            before: str | None = None, limit: int = PAGE_SIZE) -> HistoryPage:
    """Return the user's identifications newest first, one keyset page at a time.

    before is the next_cursor of a newer page; raise ValueError for one this site did not write.
    """
    cursor = _parse_cursor(before)
    if user_id is not None:
        query = select(Identification).where(Identification.owner_id == user_id)
    elif session_key:
        query = select(Identification).where(Identification.owner_id.is_(None),
                                             Identification.session_key == session_key)
    else:
        return HistoryPage([], None)
    if high_only:
        query = query.where(Identification.confidence >= HIGH_CONFIDENCE)
    if cursor:
        stamp, last_id = cursor
        query = query.where(or_(Identification.created_at < stamp,
                                and_(Identification.created_at == stamp, Identification.id < last_id)))
    query = query.order_by(Identification.created_at.desc(), Identification.id.desc()).limit(limit + 1)
    rows = list(db.session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return HistoryPage(rows, _cursor(rows[-1]) if more else None)


def recent_public(limit: int = 6) -> list[dict[str, Any]]:
    """Return id, top species name and demo flag of the newest public, finished identifications (cached
    for a minute)."""
    cached = cache.get(RECENT_PUBLIC_KEY)
    if cached is not None:
        return cached
    query = (select(Identification)
             .where(Identification.is_public.is_(True), Identification.status.in_(("completed", "partial")))
             .options(selectinload(Identification.suggestions))
             .order_by(Identification.created_at.desc()).limit(limit))
    rows = [{"id": str(i.id), "name": i.top.scientific_name if i.top else None, "demo": i.demo}
            for i in db.session.scalars(query)]
    cache.set(RECENT_PUBLIC_KEY, rows, timeout=60)
    return rows


def image_bytes(ident: Identification, position: int, *, thumbnail: bool) -> tuple[bytes, str, bool] | None:
    """Return a stored photo (or its thumbnail), its content type, and whether it stands in for a
    thumbnail not made yet (so a browser should not keep it)."""
    image = next((i for i in ident.images if i.position == position), None)
    if image is None:
        return None
    storage = get_storage()
    if thumbnail:
        try:
            return storage.open(image.thumbnail_key), "image/jpeg", False
        except FileNotFoundError:
            pass  # not made yet (the job makes it) or lost to a storage hiccup: the photo stands in
    try:
        return storage.open(image.storage_key), image.content_type, thumbnail
    except FileNotFoundError:
        return None


def seed_bench_identifications(email: str = "alice@example.com", count: int = 300) -> str:
    """Give the benchmark user a long history (and a few public results) to page through."""
    from app.accounts.models import User
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None:
        return f"no user {email}; run `flask seed` first"
    now = utcnow()
    for i in range(count):
        db.session.add(Identification(owner_id=user.id, status="completed", cache_key=f"bench-{i}",
                                      confidence=(i % 10) / 10, is_public=i % 25 == 0,
                                      created_at=now - timedelta(minutes=i)))
    db.session.commit()
    return f"{count} identifications for {email}"
