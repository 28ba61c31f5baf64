"""Read an identification upload: stream the multipart body to capped temp files, then clean each photo."""
from __future__ import annotations

import hashlib
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Request
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser

from app.core import messages
from app.core.images import CleanImage, ImageRejected, prepare_image
from app.core.offload import in_os_thread
from app.identify.models import ORGANS

TEMP_PREFIX = "verdant-upload-"
FORM_OVERHEAD = 64 * 1024  # field values and part headers around the photos


class UploadRejected(Exception):
    """An upload refused before anything was stored, with its status and user message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _PhotoTooLarge(Exception):
    """Raised from inside Werkzeug's parser; deliberately not a ValueError, which it would swallow."""


class _CappedFile:
    """A named temp file that refuses to grow past the per-photo cap."""

    def __init__(self, cap: int) -> None:
        self._file = tempfile.NamedTemporaryFile(prefix=TEMP_PREFIX, delete=True)
        self._cap = cap
        self._size = 0
        self._digest = hashlib.sha256()

    @property
    def raw_sha256(self) -> str:
        """Return the SHA-256 of the bytes as uploaded."""
        return self._digest.hexdigest()

    def write(self, data: bytes) -> int:
        self._size += len(data)
        if self._size > self._cap:
            raise _PhotoTooLarge()
        self._digest.update(data)
        return self._file.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


@dataclass
class Upload:
    """The parsed form fields and spooled photos of one request; close() removes the temp files."""

    form: MultiDict
    files: MultiDict
    spooled: list[_CappedFile] = field(default_factory=list)

    def photos(self) -> list[Any]:
        """Return the non-empty file parts, in order, whatever input they came from."""
        return [f for f in self.files.getlist("photo") if f and (f.filename or f.content_length)]

    def close(self) -> None:
        """Close (and so delete) every temp file the parser created."""
        for spooled in self.spooled:
            try:
                spooled.close()
            except OSError:
                pass

    def __enter__(self) -> Upload:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def size_text(size: int) -> str:
    """Say a size limit as people read one: "15 MB", "1.5 MB", "20 KB"."""
    if size >= 1024 * 1024:
        return f"{round(size / (1024 * 1024), 1):g} MB"
    return f"{math.ceil(size / 1024)} KB"


def max_body_bytes(per_photo: int, max_photos: int) -> int:
    """Return the largest request body an upload may send."""
    return per_photo * max_photos + FORM_OVERHEAD


def read_upload(request: Request, *, per_photo: int, max_photos: int) -> Upload:
    """Stream the multipart body to temp files; raise UploadRejected(413) when a photo or the body is too big."""
    request.max_content_length = max_body_bytes(per_photo, max_photos)
    if request.mimetype != "multipart/form-data":
        # Not a file upload (a hand-made POST): the core hooks may already have read the body.
        return Upload(form=request.form, files=MultiDict())
    spooled: list[_CappedFile] = []

    def stream_factory(total_content_length, content_type, filename, content_length=None):
        spooled.append(_CappedFile(per_photo))
        return spooled[-1]

    parser = FormDataParser(stream_factory=stream_factory,
                            max_form_memory_size=request.max_form_memory_size,
                            max_content_length=request.max_content_length,
                            max_form_parts=request.max_form_parts)
    try:
        _, form, files = parser.parse_from_environ(request.environ)
    except (_PhotoTooLarge, RequestEntityTooLarge):
        for item in spooled:
            item.close()
        # Nothing may read the rest of a body this big: the form comes back empty.
        request.form = MultiDict()
        raise UploadRejected(413, messages.UPLOAD_TOO_LARGE.format(limit=size_text(per_photo))) from None
    except BaseException:
        for item in spooled:
            item.close()
        raise
    # The request's form is these fields, as if Werkzeug had parsed them: a refusal shows the form again
    # as typed, and nothing parses the consumed body a second time.
    request.form = form
    return Upload(form=form, files=files, spooled=spooled)


@dataclass(frozen=True)
class Details:
    """What the user told us about the photos."""

    organs: tuple[str, ...]
    latitude: float | None
    longitude: float | None
    health: bool = False


def _coordinate(raw: str | None, limit: float) -> float | None:
    if raw is None or not raw.strip():
        return None
    # Phones set to a decimal-comma language offer "," on the decimal keypad: 51,5 is 51.5. float()
    # would take "1_000" for 1000, which nobody means for a coordinate.
    if "_" in raw:
        raise ValueError(raw)
    value = float(raw.replace(",", ".", 1) if "." not in raw else raw)
    if not math.isfinite(value) or abs(value) > limit:
        raise ValueError(raw)
    return value


def read_details(form: MultiDict, count: int) -> Details:
    """Validate organs and location, each problem with its own message.

    The organ values follow the photos' order in the body: the camera input's photo, then the library's
    in the order chosen. One value answers for every photo; with more, each answers for its photo and
    photos past them are "auto". A blank value means "same as the first photo" (the form's choices for
    photos 2 to 5 start blank), and a blank or missing first one means "auto". Blank values past the
    photo count are ignored (the form without JavaScript sends one per possible photo); any other is
    refused, as is an unknown organ.
    """
    organs = [o.strip().lower() for o in form.getlist("organ")]
    while len(organs) > count and not organs[-1]:
        organs.pop()
    if any(o and o not in ORGANS for o in organs):
        raise UploadRejected(422, messages.UPLOAD_BAD_DETAILS)
    if len(organs) > count:
        raise UploadRejected(422, messages.UPLOAD_EXTRA_ORGANS)
    latitude = _checked_coordinate(form.get("latitude"), 90, messages.UPLOAD_BAD_LATITUDE)
    longitude = _checked_coordinate(form.get("longitude"), 180, messages.UPLOAD_BAD_LONGITUDE)
    if (latitude is None) != (longitude is None):
        raise UploadRejected(422, messages.UPLOAD_HALF_LOCATION)
    first = organs[0] if organs and organs[0] else "auto"
    organs = [o or first for o in organs] if len(organs) > 1 else [first] * count
    organs += ["auto"] * (count - len(organs))
    return Details(tuple(organs), latitude, longitude, health=form.get("health") in ("1", "on", "y", "true"))


def _checked_coordinate(raw: str | None, limit: float, message: str) -> float | None:
    try:
        return _coordinate(raw, limit)
    except ValueError:
        raise UploadRejected(422, message) from None


def counted_photos(upload: Upload, *, max_photos: int) -> list[Any]:
    """Return the photos, refusing none or more than max_photos."""
    photos = upload.photos()
    if not photos:
        raise UploadRejected(422, messages.UPLOAD_NO_PHOTO)
    if len(photos) > max_photos:
        raise UploadRejected(422, messages.UPLOAD_TOO_MANY_PHOTOS)
    return photos


def raw_digests(upload: Upload) -> list[str]:
    """Return the SHA-256 of each photo's bytes as uploaded."""
    return [photo.stream.raw_sha256 for photo in upload.photos()]


@dataclass(frozen=True)
class CleanPhotos:
    """Cleaned photos whose bytes can be stored, and their decoding checks, running in other threads."""

    images: list[CleanImage]
    checking: list[Callable[[], None]]

    def verify(self) -> None:
        """Wait for the checks; raise ImageRejected when a photo's image data is truncated or damaged."""
        for wait in self.checking:
            wait()


def clean_photos(upload: Upload, *, max_photos: int) -> CleanPhotos:
    """Check the photo count and clean every photo; the first bad one rejects the whole upload.

    The last check of each photo, decoding it, starts in another thread at once and is waited for
    by CleanPhotos.verify, so the caller can store the photos meanwhile.
    """
    photos = counted_photos(upload, max_photos=max_photos)
    images, checking = [], []
    for photo in photos:
        try:
            image, verify = prepare_image(photo.stream, start_check=in_os_thread)
        except ImageRejected as exc:
            raise UploadRejected(exc.status, exc.message) from None
        images.append(image)
        checking.append(verify)
    return CleanPhotos(images, checking)
