"""Pl@ntNet API v2 identification client."""
from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import requests

from app.providers.base import ImageInput, ProviderResult, Suggestion, setting
from app.providers.http import (ProviderClient, error_text, is_success, json_body, parse_guard,
                                send, status_error)

NAME = "plantnet"
DEFAULT_BASE_URL = "https://my-api.plantnet.org/v2"
ORGANS = frozenset({"auto", "leaf", "flower", "fruit", "bark"})
CONTENT_TYPES = frozenset({"image/jpeg", "image/png"})
MAX_IMAGES = 5
MIN_SCORE = 0.01
TOP_N = 5


def _name(raw: Any) -> str | None:
    if isinstance(raw, dict):
        raw = raw.get("scientificNameWithoutAuthor")
    return (raw.strip() or None) if isinstance(raw, str) else None


def _common_names(raw: Any) -> tuple[str, ...]:
    names = []
    for item in raw or []:
        # Older answers wrapped each name as {"value": ...}.
        value = item.get("value") if isinstance(item, dict) else item
        if isinstance(value, str) and value.strip():
            names.append(value.strip())
    return tuple(names)


def _image_url(raw: Any) -> str | None:
    url = raw.get("url") if isinstance(raw, dict) else None
    if isinstance(url, dict):
        return url.get("s") or url.get("m") or url.get("o")
    return url if isinstance(url, str) else None


def _suggestion(raw: Mapping[str, Any]) -> Suggestion:
    species = raw["species"]
    score = raw["score"]
    name = _name(species)
    if name is None:
        raise ValueError("result without species.scientificNameWithoutAuthor")
    if isinstance(score, bool) or not isinstance(score, (int, float)):
        raise ValueError("result without a numeric score")
    ids = [(source, str(ref["id"])) for source in ("gbif", "powo")
           if isinstance(ref := raw.get(source), dict) and ref.get("id") not in (None, "")]
    return Suggestion(
        provider=NAME,
        scientific_name=" ".join(name.split()),
        probability=min(max(float(score), 0.0), 1.0),
        authorship=(species.get("scientificNameAuthorship") or "").strip() or None,
        common_names=_common_names(species.get("commonNames")),
        family=_name(species.get("family")),
        genus=_name(species.get("genus")),
        images=tuple(url for img in raw.get("images") or [] if (url := _image_url(img))),
        external_ids=tuple(ids),
    )


def parse_identification(payload: Any) -> tuple[tuple[Suggestion, ...], int | None]:
    """Read the top suggestions above MIN_SCORE and the remaining daily quota."""
    results = payload["results"]
    if not isinstance(results, list):
        raise ValueError("results is not a list")
    suggestions = sorted((_suggestion(r) for r in results), key=lambda s: s.probability, reverse=True)
    remaining = payload.get("remainingIdentificationRequests")
    return (tuple(s for s in suggestions if s.probability >= MIN_SCORE)[:TOP_N],
            int(remaining) if remaining is not None else None)


def _species_not_found(response: requests.Response) -> bool:
    return response.status_code == 404 and "species not found" in error_text(response).lower()


class PlantNetProvider(ProviderClient):
    """Identify plants with Pl@ntNet v2."""

    name = NAME
    supports_health = False
    key_setting = "PLANTNET_API_KEY"
    url_setting = "PLANTNET_BASE_URL"
    default_base_url = DEFAULT_BASE_URL

    def __init__(self, api_key: str, *, project: str = "all", language: str = "en", **kwargs: Any) -> None:
        super().__init__(api_key, **kwargs)
        self.project = project
        self.language = language

    @classmethod
    def options_from(cls, settings: Mapping[str, Any]) -> dict[str, Any]:
        return {**super().options_from(settings), "project": setting(settings, "PLANTNET_PROJECT")}

    def identify(self, images: Sequence[ImageInput], *, latitude: float | None = None,
                 longitude: float | None = None) -> ProviderResult:
        """Identify the plant in 1-5 images (Pl@ntNet takes no coordinates; the project sets the region)."""
        if not 1 <= len(images) <= MAX_IMAGES:
            raise ValueError(f"Pl@ntNet takes 1 to {MAX_IMAGES} images, got {len(images)}")
        for image in images:
            if image.organ not in ORGANS:
                raise ValueError(f"organ must be one of {sorted(ORGANS)}, not {image.organ!r}")
            if image.content_type not in CONTENT_TYPES:
                raise ValueError(f"Pl@ntNet accepts JPEG or PNG only, not {image.content_type!r}")
        return self._guard.run(lambda: self._identify(images), quota=lambda result: result.quota_remaining)

    def _identify(self, images: Sequence[ImageInput]) -> ProviderResult:
        started = time.perf_counter()
        # Exactly one organs value per image, in the same order (a mismatch is a 400).
        files = [("images", (f"image_{i}.{image.content_type.rsplit('/', 1)[-1]}", image.data, image.content_type))
                 for i, image in enumerate(images)]
        response = send(
            self.session, NAME, "POST", f"{self.base_url}/identify/{self.project}", timeout=self.timeout,
            params={"api-key": self._api_key, "include-related-images": "true", "lang": self.language},
            data={"organs": [image.organ for image in images]}, files=files,
        )
        if _species_not_found(response):
            return ProviderResult(provider=NAME, suggestions=(), latency_ms=(time.perf_counter() - started) * 1000)
        if not is_success(response):
            raise status_error(NAME, response, error_text(response))
        suggestions, remaining = parse_guard(NAME, parse_identification, json_body(NAME, response))
        return ProviderResult(provider=NAME, suggestions=suggestions,
                              latency_ms=(time.perf_counter() - started) * 1000, quota_remaining=remaining)
