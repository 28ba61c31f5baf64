"""Trefle API v1 client for species care and growth data."""
from __future__ import annotations

from typing import Any

import requests

from app.providers.http import (ProviderClient, error_text, is_success, json_body, parse_guard,
                                send, status_error)

NAME = "trefle"
DEFAULT_BASE_URL = "https://trefle.io/api/v1"


def _at(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _key(name: str) -> str:
    return " ".join(name.split()).casefold()


def pick_match(candidates: Any, scientific_name: str) -> dict[str, Any] | None:
    """Choose the search hit whose scientific name (or a synonym) equals the name asked for."""
    if not isinstance(candidates, list):
        raise ValueError("search data is not a list")
    wanted = _key(scientific_name)
    hits = [c for c in candidates if isinstance(c, dict) and c.get("id") is not None]
    for hit in hits:
        if _key(str(hit.get("scientific_name") or "")) == wanted:
            return hit
    for hit in hits:
        if any(isinstance(s, str) and _key(s) == wanted for s in hit.get("synonyms") or []):
            return hit
    return None


def normalise_species(data: Any) -> dict[str, Any]:
    """Flatten a Trefle species record into Verdant's care-data dict (reading Trefle's real paths)."""
    if not isinstance(data, dict) or data.get("id") is None:
        raise ValueError("species record without an id")
    growth = data.get("growth") or {}
    spec = data.get("specifications") or {}
    images = {
        organ: [img["image_url"] for img in items if isinstance(img, dict) and img.get("image_url")]
        for organ, items in (data.get("images") or {}).items() if isinstance(items, list)
    }
    return {
        "source": NAME,
        "trefle_id": data["id"],
        "slug": data.get("slug"),
        "scientific_name": data.get("scientific_name"),
        "author": data.get("author"),
        "common_name": data.get("common_name"),
        "common_names": list(_at(data, "common_names", "en") or []),
        "family": data.get("family"),
        "family_common_name": data.get("family_common_name"),
        "genus": data.get("genus"),
        "year": data.get("year"),
        "status": data.get("status"),
        "rank": data.get("rank"),
        "image_url": data.get("image_url"),
        "images": {organ: urls for organ, urls in images.items() if urls},
        "duration": data.get("duration"),
        "observations": data.get("observations"),
        "edible": data.get("edible"),
        "edible_part": data.get("edible_part"),
        "vegetable": data.get("vegetable"),
        "distribution": {
            "native": list(_at(data, "distribution", "native") or []),
            "introduced": list(_at(data, "distribution", "introduced") or []),
        },
        "light": growth.get("light"),
        "atmospheric_humidity": growth.get("atmospheric_humidity"),
        "soil_humidity": growth.get("soil_humidity"),
        "soil_nutriments": growth.get("soil_nutriments"),
        "soil_salinity": growth.get("soil_salinity"),
        "soil_texture": growth.get("soil_texture"),
        "ph_minimum": growth.get("ph_minimum"),
        "ph_maximum": growth.get("ph_maximum"),
        "minimum_temperature_c": _at(growth, "minimum_temperature", "deg_c"),
        "maximum_temperature_c": _at(growth, "maximum_temperature", "deg_c"),
        "minimum_precipitation_mm": _at(growth, "minimum_precipitation", "mm"),
        "maximum_precipitation_mm": _at(growth, "maximum_precipitation", "mm"),
        "minimum_root_depth_cm": _at(growth, "minimum_root_depth", "cm"),
        "growth_months": growth.get("growth_months"),
        "bloom_months": growth.get("bloom_months"),
        "fruit_months": growth.get("fruit_months"),
        "growth_description": growth.get("description"),
        "sowing": growth.get("sowing"),
        "days_to_harvest": growth.get("days_to_harvest"),
        "row_spacing_cm": _at(growth, "row_spacing", "cm"),
        "spread_cm": _at(growth, "spread", "cm"),
        "growth_rate": spec.get("growth_rate"),
        "growth_habit": spec.get("growth_habit"),
        "growth_form": spec.get("growth_form"),
        "ligneous_type": spec.get("ligneous_type"),
        "average_height_cm": _at(spec, "average_height", "cm"),
        "maximum_height_cm": _at(spec, "maximum_height", "cm"),
        "toxicity": spec.get("toxicity"),
        "nitrogen_fixation": spec.get("nitrogen_fixation"),
        "shape_and_orientation": spec.get("shape_and_orientation"),
        "flower_color": _at(data, "flower", "color"),
        "flower_conspicuous": _at(data, "flower", "conspicuous"),
        "foliage_texture": _at(data, "foliage", "texture"),
        "foliage_color": _at(data, "foliage", "color"),
        "leaf_retention": _at(data, "foliage", "leaf_retention"),
        "fruit_color": _at(data, "fruit_or_seed", "color"),
        "fruit_conspicuous": _at(data, "fruit_or_seed", "conspicuous"),
        "synonyms": [s["name"] for s in data.get("synonyms") or [] if isinstance(s, dict) and s.get("name")],
        "sources": [{"name": s.get("name"), "url": s.get("url")}
                    for s in data.get("sources") or [] if isinstance(s, dict)],
    }


class TrefleClient(ProviderClient):
    """Look up species growth and care data on Trefle."""

    name = NAME
    key_setting = "TREFLE_API_KEY"
    url_setting = "TREFLE_BASE_URL"
    default_base_url = DEFAULT_BASE_URL

    def species_by_name(self, scientific_name: str) -> dict[str, Any] | None:
        """Return normalised care data for a species, or None when Trefle does not know it."""
        if not scientific_name.strip():
            raise ValueError("scientific_name is empty")
        return self._guard.run(lambda: self._species_by_name(scientific_name))

    def _get(self, path: str, **params: Any) -> requests.Response:
        return send(self.session, NAME, "GET", f"{self.base_url}{path}", timeout=self.timeout,
                    params={**params, "token": self._api_key})

    def _species_by_name(self, scientific_name: str) -> dict[str, Any] | None:
        response = self._get("/species/search", q=scientific_name)
        if not is_success(response):
            raise status_error(NAME, response, error_text(response))
        hit = parse_guard(NAME, lambda payload: pick_match(payload["data"], scientific_name),
                          json_body(NAME, response))
        if hit is None:
            return None
        response = self._get(f"/species/{hit['id']}")
        if response.status_code == 404:
            return None
        if not is_success(response):
            raise status_error(NAME, response, error_text(response))
        return parse_guard(NAME, lambda payload: normalise_species(payload["data"]), json_body(NAME, response))
