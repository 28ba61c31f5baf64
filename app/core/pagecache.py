"""Whole pages cached for signed-out visitors, with marks where each response needs its own values.

The CSP nonce and the CSRF token differ per response, so the cached HTML holds marks in their
place and every response fills in fresh ones. Marks are raw tags that escaped or sanitised user
content can never contain. Templates must ask for the token with `csrf_token()` (which the marks
replace), not through a form's own field.
"""
from collections.abc import Callable

from flask import current_app, session
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from app.core.fragments import cached_fragment

NONCE_MARK = Markup("<verdant:csp-nonce>")
CSRF_MARK = Markup("<verdant:csrf-token>")
MARKS = {"csp_nonce": lambda: NONCE_MARK, "csrf_token": lambda: CSRF_MARK}


def page_cacheable() -> bool:
    """Tell whether this response may come from the shared cache (signed out, nothing flashed)."""
    # A flashed message belongs to one visitor's next page, so that page is rendered for them.
    return not current_user.is_authenticated and not session.get("_flashes")


def fill_marks(html: str) -> str:
    """Put this response's nonce, and a CSRF token where the page has a form, into cached HTML."""
    html = html.replace(NONCE_MARK, current_app.jinja_env.globals["csp_nonce"]())
    # Only pages with a form need a token; minting one would start a session for nothing.
    return html.replace(CSRF_MARK, generate_csrf()) if CSRF_MARK in html else html


def cached_page(scope: str, name: str, render: Callable[..., str], *, ttl: int = 60) -> str:
    """Return a page: from the cache for signed-out visitors, freshly rendered for everyone else.

    `render(**overrides)` passes the overrides to render_template so the marks land in the HTML.
    """
    if not page_cacheable():
        return render()
    return fill_marks(cached_fragment(scope, name, lambda: render(**MARKS), ttl=ttl))
