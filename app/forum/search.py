"""The forum's offer to the site search: threads whose title or posts match."""
import re

from flask import Flask, url_for
from markupsafe import escape

from app.forum import service
from app.forum.models import Category, Post, Thread
from app.search.base import SearchHit, SearchSource, register_search_source


def _highlight(text: str, words: list[str]) -> str:
    safe = str(escape(text))
    for word in words:
        pattern = re.compile(re.escape(str(escape(word))), re.IGNORECASE)
        safe = pattern.sub(lambda m: f"<mark>{m.group(0)}</mark>", safe)
    return safe


def search(query: str, limit: int, offset: int) -> tuple[list[SearchHit], int]:
    """Return matching threads as search hits, newest activity first."""
    threads, total = service.search_threads(query, limit, offset)
    words = query.split()[:5]
    excerpts = service.first_post_excerpts(threads)
    hits = [SearchHit(kind="thread", title=t.title,
                      url=url_for("forum.thread", thread_id=t.id),
                      snippet=_highlight(excerpts.get(t.id, ""), words))
            for t in threads]
    return hits, total


def register(app: Flask) -> None:
    """Register the forum as a search source."""
    register_search_source(app, SearchSource(kind="thread", label="Forum", search=search, order=30,
                                             models=(Category, Thread, Post)))
