"""Merge suggestions from several identification providers into one ranked species list."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.providers.base import ProviderResult, Suggestion
from app.species.names import HYBRID_SIGN, normalise_scientific_name

MAX_IMAGES = 8


@dataclass(frozen=True)
class MergedSuggestion:
    """One species with every provider's opinion of it."""

    scientific_name: str
    confidence: float
    providers: tuple[str, ...]
    scores: dict[str, float] = field(default_factory=dict, hash=False)
    common_names: tuple[str, ...] = ()
    family: str | None = None
    genus: str | None = None
    images: tuple[str, ...] = ()
    external_ids: tuple[tuple[str, str], ...] = ()
    authorship: str | None = None

    @property
    def agreement(self) -> int:
        """Return how many providers suggested this species."""
        return len(self.providers)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "scientific_name": self.scientific_name,
            "confidence": self.confidence,
            "providers": list(self.providers),
            "scores": dict(self.scores),
            "common_names": list(self.common_names),
            "family": self.family,
            "genus": self.genus,
            "images": list(self.images),
            "external_ids": [list(pair) for pair in self.external_ids],
            "authorship": self.authorship,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MergedSuggestion:
        """Rebuild a suggestion stored with to_dict."""
        return cls(
            scientific_name=data["scientific_name"],
            confidence=float(data["confidence"]),
            providers=tuple(data.get("providers") or ()),
            scores={str(k): float(v) for k, v in (data.get("scores") or {}).items()},
            common_names=tuple(data.get("common_names") or ()),
            family=data.get("family"),
            genus=data.get("genus"),
            images=tuple(data.get("images") or ()),
            external_ids=tuple((str(k), str(v)) for k, v in data.get("external_ids") or ()),
            authorship=data.get("authorship"),
        )


@dataclass
class _Entry:
    name: str
    scores: dict[str, float] = field(default_factory=dict)
    common_names: list[str] = field(default_factory=list)
    family: str | None = None
    genus: str | None = None
    images: list[str] = field(default_factory=list)
    external_ids: list[tuple[str, str]] = field(default_factory=list)
    authorship: str | None = None

    def add(self, provider: str, suggestion: Suggestion, *, same_name: bool) -> None:
        self.scores[provider] = max(self.scores.get(provider, 0.0), suggestion.probability)
        seen = {n.casefold() for n in self.common_names}
        for name in suggestion.common_names:
            if name.casefold() not in seen:
                self.common_names.append(name)
                seen.add(name.casefold())
        self.family = self.family or suggestion.family
        self.genus = self.genus or suggestion.genus
        self.images.extend(url for url in suggestion.images if url not in self.images)
        self.external_ids.extend(pair for pair in suggestion.external_ids if pair not in self.external_ids)
        # A synonym's author is not the accepted name's author.
        if same_name and not self.authorship:
            self.authorship = suggestion.authorship

    def merged(self, answered: int) -> MergedSuggestion:
        genus = self.genus or (self.name.split()[0] if not self.name.startswith(HYBRID_SIGN) else None)
        return MergedSuggestion(
            scientific_name=self.name,
            confidence=sum(self.scores.values()) / answered,
            providers=tuple(self.scores),
            scores=dict(self.scores),
            common_names=tuple(self.common_names),
            family=self.family,
            genus=genus,
            images=tuple(self.images[:MAX_IMAGES]),
            external_ids=tuple(self.external_ids),
            authorship=self.authorship,
        )


def _synonym_map(results: Sequence[ProviderResult]) -> dict[str, str]:
    aliases: dict[str, str] = {}
    for result in results:
        for suggestion in result.suggestions:
            accepted = normalise_scientific_name(suggestion.scientific_name)
            for synonym in suggestion.synonyms:
                key = normalise_scientific_name(synonym)
                if key and key != accepted:
                    aliases.setdefault(key, accepted)
    return aliases


def merge_suggestions(results: Sequence[ProviderResult]) -> list[MergedSuggestion]:
    """Merge provider suggestions into one ranked list, one entry per species.

    Names are normalised (authorship stripped) and a name that another suggestion lists as a
    synonym is folded into that suggestion's accepted name. Each provider keeps its best score
    for a species.

    confidence = (sum of the species' scores from the providers that answered) / (number of
    providers that answered). A provider that answered without naming the species counts as 0,
    so agreement lifts a species; a provider that failed (no ProviderResult) is not counted, so a
    single answering provider's probabilities pass through unchanged. A provider that answered
    with no suggestions (Pl@ntNet "Species not found") did answer and counts as 0 for everyone.

    Ranking: confidence, then the number of agreeing providers, then the best single score, then
    the name, so the order is deterministic.
    """
    answered = list(dict.fromkeys(result.provider for result in results))
    if not answered:
        return []
    aliases = _synonym_map(results)
    entries: dict[str, _Entry] = {}
    for result in results:
        for suggestion in result.suggestions:
            name = normalise_scientific_name(suggestion.scientific_name)
            if not name:
                continue
            key = aliases.get(name, name)
            entries.setdefault(key, _Entry(key)).add(result.provider, suggestion, same_name=key == name)
    merged = [entry.merged(len(answered)) for entry in entries.values()]
    merged.sort(key=lambda m: (-m.confidence, -len(m.providers), -max(m.scores.values()), m.scientific_name))
    return merged
