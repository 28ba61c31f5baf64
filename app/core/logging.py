"""JSON logs with the request id on every line, and security events."""
import logging
import sys

from flask import Flask, g, has_request_context, request
from pythonjsonlogger.json import JsonFormatter


class RequestContextFilter(logging.Filter):
    """Stamp each record with the request id, user and client address when in a request."""

    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context():
            record.request_id = getattr(g, "request_id", None)
            if not hasattr(record, "ip"):
                record.ip = request.remote_addr
            if not hasattr(record, "user_id"):
                record.user_id = _current_user_id()
        else:
            record.request_id = getattr(record, "request_id", None)
        return True


def _current_user_id() -> str | None:
    # Imported late: flask_login's proxy needs the app, and logging is configured first.
    from flask_login import current_user
    try:
        return str(current_user.id) if current_user and current_user.is_authenticated else None
    except Exception:  # logging must never raise, e.g. while the database is down
        return None


def configure_logging(app: Flask) -> None:
    """Send the app's and RQ's logs to stderr, as JSON unless LOG_JSON is off."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestContextFilter())
    if app.config["LOG_JSON"]:
        handler.setFormatter(JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            rename_fields={"levelname": "level", "asctime": "time"}))
    else:
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"))
    for name in ("app", "rq.worker", "verdant"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(app.config["LOG_LEVEL"])
        logger.propagate = app.testing  # so pytest's caplog sees the records


def log_event(event: str, outcome: str, *, level: int = logging.INFO, **fields) -> None:
    """Log one structured event record (security events, audit trail)."""
    logging.getLogger("app.events").log(
        level, event, extra={"event": event, "outcome": outcome, **fields})
