"""Structural checks for the hand-curated starter species catalogue.

The catalogue is plain JSON loaded with the standard library only, so these
tests do not depend on the application package or any fixtures.
"""

import json
import re
from collections import Counter
from pathlib import Path

import pytest

CATALOGUE_PATH = (
    Path(__file__).resolve().parents[2] / "app" / "species" / "starter_catalogue.json"
)

EXPECTED_KEYS = {
    "scientific_name",
    "authorship",
    "synonyms",
    "family",
    "genus",
    "rank",
    "common_names",
    "description",
    "light",
    "watering",
    "soil",
    "humidity",
    "temperature_min_c",
    "temperature_max_c",
    "hardiness_zones",
    "toxic_to_pets",
    "toxic_to_people",
    "edible_parts",
    "propagation",
    "indoor",
    "outdoor",
    "difficulty",
    "care_notes",
}

STRING_KEYS = (
    "scientific_name",
    "authorship",
    "family",
    "genus",
    "description",
    "soil",
    "care_notes",
)
BOOL_KEYS = ("toxic_to_pets", "toxic_to_people", "indoor", "outdoor")
STR_LIST_KEYS = ("synonyms", "edible_parts", "propagation")

RANKS = {"species", "variety", "hybrid"}
LIGHT = {"full_sun", "partial_sun", "bright_indirect", "medium", "low"}
WATERING = {"low", "moderate", "high"}
HUMIDITY = {"low", "medium", "high"}
DIFFICULTY = {"easy", "moderate", "hard"}
LANGS = {"en", "de", "fr", "es", "nl"}

ZONES_RE = re.compile(r"^(\d{1,2})-(\d{1,2})$")
GENUS_RE = re.compile(r"^[A-Z][a-z]+$")


def _load():
    with CATALOGUE_PATH.open(encoding="utf-8") as fh:
        return json.load(fh)


CATALOGUE = _load()
SPECIES = CATALOGUE["species"]


def _ids():
    return [entry.get("scientific_name", f"#{i}") for i, entry in enumerate(SPECIES)]


def test_top_level_shape():
    assert set(CATALOGUE) == {"version", "species"}
    assert CATALOGUE["version"] == 1
    assert isinstance(SPECIES, list)


def test_at_least_110_species():
    assert len(SPECIES) >= 110


@pytest.mark.parametrize("entry", SPECIES, ids=_ids())
def test_entry_has_exactly_the_expected_keys(entry):
    assert isinstance(entry, dict)
    assert set(entry) == EXPECTED_KEYS


@pytest.mark.parametrize("entry", SPECIES, ids=_ids())
def test_entry_field_types_and_values(entry):
    for key in STRING_KEYS:
        assert isinstance(entry[key], str), key
        assert entry[key].strip(), f"{key} is empty"
    for key in BOOL_KEYS:
        assert isinstance(entry[key], bool), key
    for key in STR_LIST_KEYS:
        assert isinstance(entry[key], list), key
        assert all(isinstance(v, str) and v.strip() for v in entry[key]), key
    assert entry["propagation"], "propagation must list at least one method"

    assert entry["rank"] in RANKS
    assert entry["light"] in LIGHT
    assert entry["watering"] in WATERING
    assert entry["humidity"] in HUMIDITY
    assert entry["difficulty"] in DIFFICULTY

    for key in ("temperature_min_c", "temperature_max_c"):
        value = entry[key]
        assert isinstance(value, int) and not isinstance(value, bool), key
        assert -40 <= value <= 50, key
    assert entry["temperature_min_c"] < entry["temperature_max_c"]

    zones = ZONES_RE.match(entry["hardiness_zones"])
    assert zones, entry["hardiness_zones"]
    low, high = int(zones.group(1)), int(zones.group(2))
    assert 1 <= low <= high <= 13

    assert entry["indoor"] or entry["outdoor"], "must be grown somewhere"


@pytest.mark.parametrize("entry", SPECIES, ids=_ids())
def test_common_names(entry):
    names = entry["common_names"]
    assert isinstance(names, list) and names
    for item in names:
        assert isinstance(item, dict)
        assert set(item) == {"name", "lang"}
        assert isinstance(item["name"], str) and item["name"].strip()
        assert item["lang"] in LANGS
    assert any(item["lang"] == "en" for item in names)
    pairs = [(item["name"].lower(), item["lang"]) for item in names]
    assert len(pairs) == len(set(pairs)), "duplicate common name"


@pytest.mark.parametrize("entry", SPECIES, ids=_ids())
def test_scientific_name_and_genus(entry):
    name = entry["scientific_name"]
    words = name.split()
    assert len(words) >= 2, name
    assert name == " ".join(words), "no stray whitespace"
    assert GENUS_RE.match(words[0]), name
    assert entry["genus"] == words[0]
    if entry["rank"] == "variety":
        assert " var. " in name
    if entry["rank"] == "hybrid":
        assert "×" in name
    assert entry["family"][0].isupper() and entry["family"].endswith("aceae")
    assert name not in entry["synonyms"]


def test_scientific_names_unique_case_insensitively():
    counts = Counter(entry["scientific_name"].casefold() for entry in SPECIES)
    duplicates = sorted(name for name, n in counts.items() if n > 1)
    assert not duplicates


@pytest.mark.parametrize("entry", SPECIES, ids=_ids())
def test_description_and_care_notes_length(entry):
    assert len(entry["description"]) >= 40
    assert len(entry["care_notes"]) >= 20


def test_pet_toxicity_balance():
    pet_safe = sum(1 for entry in SPECIES if not entry["toxic_to_pets"])
    pet_toxic = sum(1 for entry in SPECIES if entry["toxic_to_pets"])
    assert pet_safe >= 40
    assert pet_toxic >= 20


def test_non_english_common_names():
    with_foreign = sum(
        1
        for entry in SPECIES
        if any(item["lang"] != "en" for item in entry["common_names"])
    )
    assert with_foreign >= 60


def test_indoor_and_outdoor_mix():
    assert sum(1 for entry in SPECIES if entry["indoor"]) >= 40
    assert sum(1 for entry in SPECIES if entry["outdoor"]) >= 40


@pytest.mark.parametrize(
    ("scientific_name", "toxic_to_pets"),
    [
        ("Monstera deliciosa", True),
        ("Epipremnum aureum", True),
        ("Dieffenbachia seguine", True),
        ("Lilium longiflorum", True),
        ("Cycas revoluta", True),
        ("Chlorophytum comosum", False),
        ("Nephrolepis exaltata", False),
        ("Chamaedorea elegans", False),
        ("Goeppertia orbifolia", False),
    ],
)
def test_well_known_toxicity_facts(scientific_name, toxic_to_pets):
    by_name = {entry["scientific_name"]: entry for entry in SPECIES}
    assert by_name[scientific_name]["toxic_to_pets"] is toxic_to_pets
