"""The contract between search and the domains that offer something to find."""
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, current_app


@dataclass(frozen=True)
class SearchHit:
    """One result: what it is, where it lives, and a snippet with <mark> around matches."""

    kind: str          # "species", "post", "thread", ...
    title: str
    url: str
    snippet: str = ""  # safe HTML: escaped text with <mark>…</mark> around matched words
    score: float = 0.0


@dataclass(frozen=True)
class SearchSource:
    """A domain's searchable content: `search(query, limit, offset)` returns (hits, total)."""

    kind: str
    label: str         # group heading, e.g. "Species"
    search: Callable[[str, int, int], tuple[list[SearchHit], int]]
    order: int = 100
    models: tuple[type, ...] = ()  # writes to these make cached results of every source stale


def register_search_source(app: Flask, source: SearchSource) -> None:
    """Offer a domain's content to the site search."""
    app.extensions.setdefault("search_sources", []).append(source)


def search_sources() -> list[SearchSource]:
    """Return the registered sources in display order."""
    return sorted(current_app.extensions.get("search_sources", []), key=lambda s: s.order)
