"""The site search page and its search-as-you-type suggestions."""
from flask import Blueprint, current_app, render_template, request
from flask_limiter.util import get_remote_address

from app.core import messages
from app.extensions import limiter
from app.htmx import wants_fragment
from app.search import service

bp = Blueprint("search", __name__, url_prefix="/search")


def _search_limit() -> str:
    return current_app.config["SEARCH_RATE_LIMIT"]


def _suggest_limit() -> str:
    return current_app.config["SEARCH_SUGGEST_RATE_LIMIT"]


@bp.get("")
@limiter.limit(_search_limit, key_func=get_remote_address)
def search():
    page = request.args.get("page", "1")
    kinds = request.args.getlist("kind") or None
    results = service.search(request.args.get("q"), kinds=kinds,
                             page=int(page) if page.isdigit() and 0 < int(page) < 1000 else 1)
    template = "search/_results.html" if wants_fragment() else "search/search.html"
    return render_template(template, results=results, page_size=service.PAGE_SIZE, messages=messages)


@bp.get("/suggest")
@limiter.limit(_suggest_limit, key_func=get_remote_address)
def suggest():
    return render_template("search/_suggestions.html", results=service.suggest(request.args.get("q")))


def register(app) -> None:
    """Keep cached search answers in step with writes to the content that search finds."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    if not event.contains(Session, "before_flush", service.note_searchable_change):
        event.listen(Session, "before_flush", service.note_searchable_change)
        event.listen(Session, "do_orm_execute", service.note_searchable_statement)
        event.listen(Session, "after_commit", service.invalidate_after_commit)
