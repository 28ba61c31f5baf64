"""The forum's offer to the site search: threads whose title, tags or opening post match."""
from flask import Flask, url_for

from app.extensions import db
from app.forum import search_index, service
from app.forum.models import Category, Post, Thread
from app.search.base import (
    SearchHit,
    SearchSource,
    register_search_index,
    register_search_source,
)
from app.search.index import HEADLINE_CHARS, headlines


def search(query: str, limit: int, offset: int) -> tuple[list[SearchHit], int]:
    """Return matching threads as search hits, best first."""
    ranked, total = service.search_threads(query, limit, offset)
    threads = [thread for thread, _ in ranked]
    excerpts = service.first_post_excerpts(threads, HEADLINE_CHARS)
    snippets = headlines(db.session, query, [excerpts.get(t.id, "") for t in threads])
    hits = [SearchHit(kind="thread", title=thread.title, url=url_for("forum.thread", thread_id=thread.id),
                      snippet=snippet, score=score)
            for (thread, score), snippet in zip(ranked, snippets)]
    return hits, total


def register(app: Flask) -> None:
    """Register the forum as a search source and keep its index current."""
    register_search_source(app, SearchSource(kind="thread", label="Forum", search=search, order=30,
                                             models=(Category, Thread, Post)))
    register_search_index(app, search_index.INDEX_NAMES)
    search_index.listen()
