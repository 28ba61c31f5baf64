"""Cache-busting static URLs: a content version on every static URL, and a long cache for it.

Every `url_for` of a static endpoint (the app's, Flask-Admin's, any blueprint's) gains `v`, a hash of
the file's content, read once per file per process. A request carrying the version this process
computed is cached for STATIC_MAX_AGE and marked immutable: a changed file gets a new URL, so no
browser has to revalidate it. A request without the version, or with another one, keeps Flask's
`no-cache` (revalidation by ETag). During a rolling deploy a page rendered by a new process may have its
files fetched from an old one: the old file must not be kept for a year under the new file's URL (nor,
for a rollback's sake, the new file under the old URL).
"""
import hashlib
import threading

from flask import Flask, Response, request
from werkzeug.security import safe_join

VERSION_ARG = "v"


class StaticVersions:
    """Content versions of static files, computed once per file and kept for the process's life."""

    def __init__(self) -> None:
        self._versions: dict[str, str | None] = {}
        self._lock = threading.Lock()

    def version(self, folder: str, filename: str) -> str | None:
        """Return the file's content version, or None where there is no such file."""
        path = safe_join(folder, filename)
        if path is None:
            return None
        try:
            return self._versions[path]
        except KeyError:
            pass
        with self._lock:  # so that concurrent first requests read the file once
            if path not in self._versions:
                self._versions[path] = _content_version(path)
            return self._versions[path]


def _content_version(path: str) -> str | None:
    try:
        with open(path, "rb") as file:
            return hashlib.file_digest(file, "sha256").hexdigest()[:12]
    except OSError:  # no such file (or not one): its URL goes unversioned, and it 404s anyway
        return None


def init_static(app: Flask) -> None:
    """Version the URLs of static files and let browsers keep versioned ones for long."""
    versions = app.extensions["static_versions"] = StaticVersions()

    @app.url_defaults
    def add_static_version(endpoint: str, values: dict) -> None:
        folder = _static_folder(app, endpoint)
        filename = values.get("filename")
        if folder and filename:
            version = versions.version(folder, filename)
            if version:
                # Replaces a `v` the caller passed: Flask-Admin passes its libraries' release numbers
                # (and none for some files), which say nothing of the file served.
                values[VERSION_ARG] = version

    @app.after_request
    def cache_versioned_static(response: Response) -> Response:
        if VERSION_ARG not in request.args or response.status_code not in (200, 206, 304):
            return response
        folder = _static_folder(app, request.endpoint)
        filename = (request.view_args or {}).get("filename")
        if folder and filename and request.args[VERSION_ARG] == versions.version(folder, filename):
            cache = response.cache_control
            cache.no_cache = None
            cache.public = True
            cache.max_age = app.config["STATIC_MAX_AGE"]
            cache.immutable = True
        return response


def _static_folder(app: Flask, endpoint: str | None) -> str | None:
    """Return the folder a static endpoint serves (the app's or a blueprint's), else None."""
    if endpoint == "static":
        return app.static_folder
    if endpoint and endpoint.endswith(".static"):
        blueprint = app.blueprints.get(endpoint.rpartition(".")[0])
        return blueprint.static_folder if blueprint is not None else None
    return None
