"""JSON logs (or plain text) with the request id on every line, and security events."""
import json
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


# What every record has; the rest came in extra= (event, identification_id, ...).
_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id", "taskName"}


class TextFormatter(logging.Formatter):
    """One line a record, as LOG_JSON=0 asks; the extra fields follow the message as key=value."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{key}={_text(value)}" for key, value in vars(record).items()
                          if key not in _RECORD_FIELDS and value is not None and not key.startswith("_"))
        line = super().formatMessage(record)
        return f"{line} {fields}" if fields else line


def _text(value: object) -> str:
    """A bare word as it is, any other string quoted, anything else as compact JSON."""
    if not isinstance(value, str):
        return json.dumps(value, default=str, separators=(",", ":"))
    return value if value and not any(c.isspace() or c in "\"=" for c in value) else json.dumps(value)


# The id of every periodic job's run starts so (app.core.jobs), which is how QuietPeriodicJobs knows them.
PERIODIC_JOB_PREFIX = "periodic-"


class QuietPeriodicJobs(logging.Filter):
    """Drop RQ's routine lines about periodic jobs: four a run, every 15 seconds to a minute, they
    drowned everything else. Their warnings and errors stay, and the jobs log what they do."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO or not record.name.startswith("rq."):
            return True
        message = record.getMessage()
        return PERIODIC_JOB_PREFIX not in message and "run_periodic(" not in message


def configure_logging(app: Flask) -> None:
    """Send the app's and RQ's logs to stderr, as JSON unless LOG_JSON is off."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestContextFilter())
    handler.addFilter(QuietPeriodicJobs())
    if app.config["LOG_JSON"]:
        handler.setFormatter(JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            rename_fields={"levelname": "level", "asctime": "time"}))
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"))
    # rq.scheduler: the scheduler process a worker forks logs in the same format (RQ would give it its own).
    for name in ("app", "rq.worker", "rq.scheduler", "verdant"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(app.config["LOG_LEVEL"])
        logger.propagate = app.testing  # so pytest's caplog sees the records


def log_event(event: str, outcome: str, *, level: int = logging.INFO, **fields) -> None:
    """Log one structured event record (security events, audit trail)."""
    logging.getLogger("app.events").log(
        level, event, extra={"event": event, "outcome": outcome, **fields})
