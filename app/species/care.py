"""The AI care guide (Species.care_text) laid out for a page.

care_text is the JSON object the OpenAI client asked for (app/providers/openai_care.py): an overview,
then sections whose values are text, objects of text (water: frequency, amount, ...) or lists of text.
A model may drift from that shape, so each value is kept only in a shape a page can show, sections come
in a gardener's order with any unexpected ones after, and empty ones are left out.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ORDER = ("difficulty_level", "light", "water", "soil", "temperature", "humidity", "fertilizer", "pruning",
         "propagation", "common_problems", "toxicity")
LABELS = {"difficulty_level": "Difficulty", "fertilizer": "Feeding", "ph": "pH", "indoor_placement": "Indoors",
          "signs_of_overwatering": "Too much water", "signs_of_underwatering": "Too little water"}


@dataclass(frozen=True)
class Section:
    """One part of the guide: text, a list of texts, or labelled texts."""

    label: str
    text: str = ""
    items: tuple[str, ...] = ()
    parts: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class CareGuide:
    overview: str
    sections: tuple[Section, ...]

    def __bool__(self) -> bool:
        return bool(self.overview or self.sections)


def label(key: str) -> str:
    return LABELS.get(key) or key.replace("_", " ").strip().capitalize()


def _text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return ""
    return str(value).strip()


def _section(key: str, value: Any) -> Section | None:
    if isinstance(value, Mapping):
        parts = tuple((label(str(k)), text) for k, v in value.items() if (text := _text(v)))
        return Section(label(key), parts=parts) if parts else None
    if isinstance(value, (list, tuple)):
        items = tuple(text for v in value if (text := _text(v)))
        return Section(label(key), items=items) if items else None
    text = _text(value)
    return Section(label(key), text=text) if text else None


def care_guide(care_text: Any) -> CareGuide:
    """Return the guide to show for a species' care_text (empty when there is nothing to show)."""
    if not isinstance(care_text, Mapping):
        return CareGuide("", ())
    keys = [k for k in ORDER if k in care_text]
    keys += [k for k in care_text if isinstance(k, str) and k not in ORDER and k != "overview"]
    sections = tuple(section for key in keys if (section := _section(key, care_text[key])))
    return CareGuide(_text(care_text.get("overview")), sections)
