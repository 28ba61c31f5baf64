"""The forum's offer to the site search: threads whose title, tags or opening post match."""
from flask import Flask, url_for

from app.forum import search_index, service
from app.forum.models import Category, Post, Thread
from app.search.base import (
    SearchHit,
    SearchSource,
    register_search_index,
    register_search_source,
)
from app.search.index import snippet


def search(query: str, limit: int, offset: int) -> tuple[list[SearchHit], int]:
    """Return matching threads as search hits, best first."""
    rows, total = service.search_threads(query, limit, offset)
    hits = [SearchHit(kind="thread", title=row.title, url=url_for("forum.thread", thread_id=row.id),
                      snippet=snippet(row, query, getattr(row, "body", "")), score=float(row.score))
            for row in rows]
    return hits, total


def register(app: Flask) -> None:
    """Register the forum as a search source and keep its index current."""
    register_search_source(app, SearchSource(kind="thread", label="Forum", search=search, order=30,
                                             models=(Category, Thread, Post)))
    register_search_index(app, search_index.INDEX_NAMES)
    search_index.listen()
