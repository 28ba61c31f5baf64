"""The site search page and its search-as-you-type suggestions."""
from flask import Blueprint, render_template, request

from app.core import messages
from app.htmx import wants_fragment
from app.search import service

bp = Blueprint("search", __name__, url_prefix="/search")


@bp.get("")
def search():
    page = request.args.get("page", "1")
    kinds = request.args.getlist("kind") or None
    results = service.search(request.args.get("q"), kinds=kinds,
                             page=int(page) if page.isdigit() and 0 < int(page) < 1000 else 1)
    template = "search/_results.html" if wants_fragment() else "search/search.html"
    return render_template(template, results=results, page_size=service.PAGE_SIZE, messages=messages)


@bp.get("/suggest")
def suggest():
    return render_template("search/_suggestions.html", results=service.suggest(request.args.get("q")))
