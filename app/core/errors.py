"""Error pages: the same words as a page, an htmx fragment or JSON, with the right status."""
import logging
import math
import time

from flask import Flask, g, jsonify, render_template, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from redis.exceptions import ConnectionError as RedisConnectionError, TimeoutError as RedisTimeoutError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from app.core import messages
from app.core.logging import log_event
from app.htmx import is_htmx

log = logging.getLogger(__name__)

MESSAGES = {
    400: messages.BAD_REQUEST,
    403: messages.FORBIDDEN,
    404: messages.NOT_FOUND,
    405: messages.METHOD_NOT_ALLOWED,
    413: messages.BODY_TOO_LARGE,
    500: messages.SERVER_ERROR,
    503: messages.DB_DOWN,
}
TITLES = {400: "Bad request", 401: "Sign-in needed", 403: "Forbidden", 404: "Not found",
          405: "Not allowed", 413: "Too large", 415: "Unsupported type", 422: "Check your input",
          429: "Slow down", 500: "Server error", 503: "Temporarily unavailable"}


def wants_json() -> bool:
    """Tell whether the client asked for JSON rather than HTML."""
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def error_response(status: int, message: str, headers: dict | None = None):
    """Render an error as JSON, an htmx fragment or a full page."""
    headers = dict(headers or {})
    if wants_json():
        body = jsonify(error={"status": status, "message": message,
                              "request_id": g.get("request_id")})
        return body, status, headers
    _known_user_or_signed_out()
    template = "errors/_error.html" if is_htmx() else "errors/error.html"
    return render_template(template, status=status, title=TITLES.get(status, "Error"),
                           message=message), status, headers


def _known_user_or_signed_out() -> None:
    """Make sure the page can ask who is signed in without failing: else it is drawn signed out.

    Loading the user may be the very thing that failed (its database or Redis is down). Asked again by
    the page's navigation, it would fail inside this handler, and the server would answer a bare 500.
    """
    try:
        _ = current_user.is_authenticated  # loads the user, and its row when the rollback expired it
    except Exception:  # whatever failed is reported by the handler that is running, not raised again
        from app.extensions import login
        g._login_user = login.anonymous_user()  # where Flask-Login keeps this request's user


def _retry_after_seconds() -> int:
    from app.extensions import limiter
    current = limiter.current_limit
    return max(1, math.ceil(current.reset_at - time.time())) if current else 60


def rate_limited_message(seconds: int) -> str:
    """Say how long to wait in the unit a person thinks in: a daily limit is hours away, not 85,000 seconds."""
    if seconds < 120:
        return messages.RATE_LIMITED.format(wait=messages.quantity(seconds, "second"))
    if seconds < 2 * 3600:
        return messages.RATE_LIMITED_MINUTES.format(minutes=math.ceil(seconds / 60))
    return messages.RATE_LIMITED_HOURS.format(hours=math.ceil(seconds / 3600))


def rate_limit_refusal() -> tuple[str, dict[str, str]]:
    """Log a request refused by a rate limit; return what to tell its sender, and the Retry-After header."""
    seconds = _retry_after_seconds()
    log_event("rate_limited", "refused", level=logging.WARNING, path=request.path)
    return rate_limited_message(seconds), {"Retry-After": str(seconds)}


def init_errors(app: Flask) -> None:
    """Register one handler per kind of failure."""

    @app.errorhandler(CSRFError)
    def csrf_failed(exc):
        log_event("csrf_failed", "refused", level=logging.WARNING, path=request.path,
                  reason=exc.description)
        return error_response(400, messages.CSRF_FAILED)

    @app.errorhandler(429)
    def rate_limited(exc):
        return error_response(429, *rate_limit_refusal())

    @app.errorhandler(OperationalError)
    def database_down(exc):
        log.error("database unreachable", extra={"event": "dependency_down", "dependency": "database"})
        from app.extensions import db
        db.session.rollback()
        return error_response(503, messages.DB_DOWN, {"Retry-After": "30"})

    @app.errorhandler(RedisConnectionError)
    @app.errorhandler(RedisTimeoutError)
    def redis_down(exc):
        log.error("redis unreachable", extra={"event": "dependency_down", "dependency": "redis",
                                              "path": request.path})
        return error_response(503, messages.SERVICE_DOWN, {"Retry-After": "30"})

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        status = exc.code or 500
        message = MESSAGES.get(status) or exc.description
        if status >= 400 and status not in (401, 404):
            log.info("request refused", extra={"event": "http_error", "status": status,
                                               "path": request.path, "outcome": "refused"})
        response = error_response(status, message)
        if status == 405 and exc.valid_methods:
            response[2]["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        if isinstance(exc, HTTPException):
            return http_error(exc)
        log.exception("unhandled error", extra={"event": "unhandled_error", "path": request.path})
        from app.extensions import db
        db.session.rollback()
        return error_response(500, messages.SERVER_ERROR)

