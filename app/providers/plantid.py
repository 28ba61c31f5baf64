"""Plant.id (Kindwise) API v3 client."""
from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import pybase64

from app.providers import stats
from app.providers.base import Disease, HealthAssessment, ImageInput, ProviderResult, Suggestion
from app.providers.http import (ProviderClient, error_text, is_success, json_body, parse_guard,
                                send, status_error)

NAME = "plantid"
DEFAULT_BASE_URL = "https://plant.id/api/v3"
DETAILS = ("common_names,taxonomy,url,description,image,watering,edible_parts,"
           "propagation_methods,synonyms")
# Plant.id reads plant and disease details from the one `details` parameter.
HEALTH_DETAILS = "local_name,description,treatment,classification,cause"
MAX_IMAGES = 5
TOP_N = 5
TREATMENT_KINDS = ("prevention", "biological", "chemical")


def _strings(values: Any) -> tuple[str, ...]:
    if not isinstance(values, list):
        return ()
    return tuple(v.strip() for v in values if isinstance(v, str) and v.strip())


def _suggestion(raw: Mapping[str, Any]) -> Suggestion:
    name = raw["name"]
    probability = raw["probability"]
    if not isinstance(name, str) or not name.strip():
        raise ValueError("suggestion without a name")
    if isinstance(probability, bool) or not isinstance(probability, (int, float)):
        raise ValueError("suggestion without a numeric probability")
    details = raw.get("details") or {}
    taxonomy = details.get("taxonomy") or {}
    images = tuple(
        img.get("url_small") or img.get("url")
        for img in raw.get("similar_images") or []
        if isinstance(img, dict) and (img.get("url_small") or img.get("url"))
    )
    ids: list[tuple[str, str]] = []
    entity_id = raw.get("id") or details.get("entity_id")
    if entity_id:
        ids.append(("plantid", str(entity_id)))
    if details.get("gbif_id"):
        ids.append(("gbif", str(details["gbif_id"])))
    return Suggestion(
        provider=NAME,
        scientific_name=" ".join(name.split()),
        probability=min(max(float(probability), 0.0), 1.0),
        authorship=details.get("name_authority") or None,
        common_names=_strings(details.get("common_names")),
        family=taxonomy.get("family") or None,
        genus=taxonomy.get("genus") or None,
        images=images,
        external_ids=tuple(ids),
        synonyms=_strings(details.get("synonyms")),
    )


def parse_identification(payload: Any) -> tuple[tuple[Suggestion, ...], float | None]:
    """Read the top suggestions and the is-plant probability from an identification object."""
    result = payload["result"]
    raw = result["classification"]["suggestions"]
    if not isinstance(raw, list):
        raise ValueError("classification.suggestions is not a list")
    suggestions = sorted((_suggestion(s) for s in raw), key=lambda s: s.probability, reverse=True)
    is_plant = (result.get("is_plant") or {}).get("probability")
    return tuple(suggestions[:TOP_N]), float(is_plant) if is_plant is not None else None


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _disease(raw: Mapping[str, Any]) -> Disease:
    details = raw.get("details") or {}
    name = _text(details.get("local_name")) or _text(raw["name"])
    probability = raw["probability"]
    if name is None:
        raise ValueError("disease without a name")
    if isinstance(probability, bool) or not isinstance(probability, (int, float)):
        raise ValueError("disease without a numeric probability")
    treatment = details.get("treatment") or {}
    steps = tuple((kind, _strings(treatment.get(kind))) for kind in TREATMENT_KINDS
                  if isinstance(treatment, dict) and _strings(treatment.get(kind)))
    return Disease(name=name, probability=min(max(float(probability), 0.0), 1.0),
                   description=_text(details.get("description")), treatment=steps,
                   classification=_strings(details.get("classification")), cause=_text(details.get("cause")))


def parse_health(payload: Any) -> HealthAssessment | None:
    """Read the health assessment of an identification object, or None when it has none."""
    result = payload["result"]
    healthy = result.get("is_healthy")
    if healthy is None:
        return None
    probability, threshold = healthy["probability"], healthy.get("threshold", 0.5)
    if isinstance(probability, bool) or not isinstance(probability, (int, float)):
        raise ValueError("is_healthy without a numeric probability")
    raw = (result.get("disease") or {}).get("suggestions") or []
    if not isinstance(raw, list):
        raise ValueError("disease.suggestions is not a list")
    diseases = sorted((_disease(d) for d in raw), key=lambda d: d.probability, reverse=True)
    return HealthAssessment(healthy_probability=min(max(float(probability), 0.0), 1.0),
                            threshold=float(threshold), diseases=tuple(diseases[:TOP_N]))


def _remaining_day(payload: Any) -> int | None:
    remaining = payload["remaining"]["day"]
    return None if remaining is None else int(remaining)


class PlantIdProvider(ProviderClient):
    """Identify plants with Plant.id v3."""

    name = NAME
    supports_health = True
    key_setting = "PLANTID_API_KEY"
    url_setting = "PLANTID_BASE_URL"
    default_base_url = DEFAULT_BASE_URL

    def __init__(self, api_key: str, *, language: str = "en", **kwargs: Any) -> None:
        super().__init__(api_key, **kwargs)
        self.language = language

    def identify(self, images: Sequence[ImageInput], *, latitude: float | None = None,
                 longitude: float | None = None, health: bool = False) -> ProviderResult:
        """Identify the plant in 1-5 images; with health=True also run the health assessment."""
        if not 1 <= len(images) <= MAX_IMAGES:
            raise ValueError(f"Plant.id takes 1 to {MAX_IMAGES} images, got {len(images)}")
        body: dict[str, Any] = {
            # pybase64 (SIMD): the stdlib takes milliseconds per photo, holding the GIL the other call needs.
            "images": [pybase64.b64encode(image.data).decode("ascii") for image in images],
            "similar_images": True,
        }
        if latitude is not None and longitude is not None:
            body["latitude"], body["longitude"] = float(latitude), float(longitude)
        if health:
            body["health"] = "all"
        return self._guard.run(lambda: self._identify(body))

    def _identify(self, body: dict[str, Any]) -> ProviderResult:
        started = time.perf_counter()
        details = f"{DETAILS},{HEALTH_DETAILS}" if body.get("health") else DETAILS
        # orjson: the photos are megabytes of base64, which the json module takes milliseconds to scan.
        response = send(self.session, NAME, "POST", f"{self.base_url}/identification", timeout=self.timeout,
                        headers={"Api-Key": self._api_key, "Content-Type": "application/json"},
                        params={"details": details, "language": self.language}, data=orjson.dumps(body))
        if not is_success(response):
            raise status_error(NAME, response, error_text(response))
        payload = json_body(NAME, response)
        suggestions, is_plant = parse_guard(NAME, parse_identification, payload)
        health = parse_guard(NAME, parse_health, payload) if body.get("health") else None
        return ProviderResult(provider=NAME, suggestions=suggestions,
                              latency_ms=(time.perf_counter() - started) * 1000, is_plant=is_plant, health=health)

    def usage_info(self) -> int | None:
        """Return the identifications left today (remaining.day), recording it for the status panel."""
        response = send(self.session, NAME, "GET", f"{self.base_url}/usage_info", timeout=self.timeout,
                        headers={"Api-Key": self._api_key})
        if not is_success(response):
            raise status_error(NAME, response, error_text(response))
        remaining = parse_guard(NAME, _remaining_day, json_body(NAME, response))
        if remaining is not None and self._guard.redis is not None:
            stats.record_quota(self._guard.redis, NAME, remaining, clock=self._guard.clock)
        return remaining
