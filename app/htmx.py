"""Small helpers for answering htmx requests."""
from flask import request


def wants_fragment() -> bool:
    """Tell whether this request wants a fragment rather than the full page."""
    h = request.headers
    return h.get("HX-Request") == "true" and "true" not in (
        h.get("HX-Boosted"), h.get("HX-History-Restore-Request"))


def is_htmx() -> bool:
    """Tell whether htmx sent this request (boosted or not)."""
    return request.headers.get("HX-Request") == "true"
