"""Helpers for identification tests: post an upload, and snapshot everything an upload may store."""
import io
import os
import re
import tempfile

from sqlalchemy import func, select

from app.extensions import db
from app.identify.models import Identification, IdentificationImage, IdentificationSuggestion
from tests.conftest import csrf_token


def post_upload(client, photos, *, organ=None, token=True, headers=None, extra=None, field="photo"):
    """POST photos (bytes, or (bytes, filename)) to /identify the way the form does."""
    data = {}
    if token is True:
        data["csrf_token"] = page_token(client)
    elif token:
        data["csrf_token"] = token
    parts = []
    for i, photo in enumerate(photos):
        content, name = photo if isinstance(photo, tuple) else (photo, f"plant-{i}.jpg")
        parts.append((field, name, content))
    if organ is not None:
        data["organ"] = organ
    data.update(extra or {})
    for key, values in data.items():
        for value in values if isinstance(values, list) else [values]:
            parts.append((key, None, str(value).encode()))
    body, content_type = encode_multipart(parts)
    return client.post("/identify", data=body, content_type=content_type, headers=headers or {})


def encode_multipart(parts):
    """Encode (name, filename or None, bytes) parts; in memory, so no temp file outlives the request."""
    boundary = "verdant-test-boundary-7d3f"
    out = io.BytesIO()
    for name, filename, content in parts:
        out.write(f"--{boundary}\r\n".encode())
        if filename is None:
            out.write(f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode())
        else:
            out.write(f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                      f"Content-Type: image/jpeg\r\n\r\n".encode())
        out.write(content)
        out.write(b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def page_token(client) -> str:
    """Return the session's CSRF token from the identify page (form field or htmx header)."""
    html = client.get("/identify").text
    match = re.search(r'"X-CSRFToken": "([^"]+)"', html)
    if match:
        return match.group(1)
    if 'name="csrf_token"' not in html:  # no provider configured: the page shows no form
        html = client.get("/accounts/login").text
    return csrf_token(html)


def snapshot(app):
    """Return what "nothing stored" compares: rows, media files, temp files, queued jobs, Redis keys."""
    media = app.config["MEDIA_ROOT"]
    files = sorted(os.path.relpath(os.path.join(d, f), media) for d, _, fs in os.walk(media) for f in fs)
    redis = app.extensions["redis"]
    # Rate-limit counters and the shared page cache (rendered public HTML) are not stored input.
    keys = sorted(k.decode() for k in redis.keys("*")
                  if not k.decode().startswith(("LIMIT", "verdant:fragments:")))
    jobs = {name: q.count for name, q in app.extensions["queues"].items()}
    return {
        "identifications": db.session.scalar(select(func.count()).select_from(Identification)),
        "images": db.session.scalar(select(func.count()).select_from(IdentificationImage)),
        "suggestions": db.session.scalar(select(func.count()).select_from(IdentificationSuggestion)),
        "media": files,
        "temp": sorted(n for n in os.listdir(tempfile.gettempdir()) if n.startswith("verdant-upload-")),
        "jobs": jobs,
        "redis": keys,
    }


def uploads_sent(page):
    """Record every POST of the upload form's address (a browser test's page), to count them and read
    their headers."""
    sent = []
    page.on("request", lambda request: sent.append(request)
            if request.method == "POST" and request.url.endswith("/identify") else None)
    return sent
