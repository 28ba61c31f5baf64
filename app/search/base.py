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


@dataclass(frozen=True)
class SearchIndexNames:
    """Database objects a domain's search index keeps outside its models (FTS5 tables, tsvector columns)."""

    tables: tuple[str, ...] = ()    # virtual tables; FTS5's shadow tables share the name as prefix
    columns: tuple[str, ...] = ()   # "table.column"
    indexes: tuple[str, ...] = ()


def register_search_index(app: Flask, names: SearchIndexNames) -> None:
    """Tell migrations and test clean-up about a domain's search index objects."""
    app.extensions.setdefault("search_index_names", []).append(names)


def search_index_tables() -> list[str]:
    """Return the virtual tables that hold search indexes (they exist on SQLite only)."""
    return [t for names in current_app.extensions.get("search_index_names", []) for t in names.tables]


def include_name(name: str | None, type_: str, parent_names: dict) -> bool:
    """Tell Alembic's autogenerate to leave the search indexes (not in the models) alone."""
    registered = current_app.extensions.get("search_index_names", [])
    name = name or ""
    if type_ == "table":
        return not any(name == t or name.startswith(t + "_") for n in registered for t in n.tables)
    if type_ == "column":
        return f"{parent_names.get('table_name')}.{name}" not in {c for n in registered for c in n.columns}
    if type_ == "index":
        return name not in {i for n in registered for i in n.indexes}
    return True
