"""Request hooks: request id, bad-input guard, Vary for fragments, CSRF token for htmx."""
import re
import uuid
from urllib.parse import unquote_to_bytes

from flask import Flask, abort, g, request

from app.core.errortracking import tag_request

REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,128}$")


def init_request_id(app: Flask) -> None:
    """Give every request an id, before any other hook may refuse it (a rate limit, a CSRF check):
    refusals are logged and answered with their id too."""

    @app.before_request
    def assign_request_id():
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if REQUEST_ID_RE.fullmatch(incoming) else uuid.uuid4().hex
        tag_request(g.request_id)


def init_hooks(app: Flask) -> None:
    """Register the hooks every request passes through (init_request_id comes first, apart)."""

    @app.before_request
    def refuse_malformed_input():
        # NUL bytes and undecodable UTF-8 are never valid input. Werkzeug lets both through
        # (keeping "%FF" literally, or as U+FFFD in multipart), and PostgreSQL would
        # reject a NUL with a 500 further down.
        if not _is_utf8_urlencoded(request.query_string):
            abort(400)
        if request.mimetype == "application/x-www-form-urlencoded":
            if not _is_utf8_urlencoded(request.get_data(cache=True, parse_form_data=False)):
                abort(400)
        # Multipart bodies are left to their views: parsing them here would read uploads
        # before a view can set its own size limit.
        fields = request.form if request.mimetype == "application/x-www-form-urlencoded" else {}
        for values in (request.args, fields):
            for key, value in values.items(multi=True) if values else ():
                if "\x00" in key or "\x00" in value or "\ufffd" in value:
                    abort(400)

    @app.after_request
    def stamp_response(response):
        response.headers["X-Request-ID"] = g.get("request_id", "")
        if request.headers.get("HX-Request"):
            response.vary.add("HX-Request")
        return response


def _is_utf8_urlencoded(raw: bytes) -> bool:
    try:
        unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
