"""Request hooks: request id, bad-input guard, Vary for fragments, CSRF token for htmx."""
import re
import uuid

from flask import Flask, abort, g, request

REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,128}$")


def init_hooks(app: Flask) -> None:
    """Register the hooks every request passes through."""

    @app.before_request
    def assign_request_id():
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if REQUEST_ID_RE.fullmatch(incoming) else uuid.uuid4().hex

    @app.before_request
    def refuse_control_characters():
        # NUL bytes and undecodable UTF-8 (which Werkzeug turns into U+FFFD) are never valid
        # input; PostgreSQL would reject NULs with a 500 further down.
        for values in (request.args, request.form if request.mimetype in _FORM_TYPES else {}):
            for key, value in values.items(multi=True) if values else ():
                if "\x00" in key or "\x00" in value or "\ufffd" in key or "\ufffd" in value:
                    abort(400)

    @app.after_request
    def stamp_response(response):
        response.headers["X-Request-ID"] = g.get("request_id", "")
        if request.headers.get("HX-Request"):
            response.vary.add("HX-Request")
        return response


_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
