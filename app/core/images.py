"""Validate uploaded photos and store them without metadata or payloads.

A JPEG that needs no turning or downscaling (what a phone's browser sends once upload.js has scaled
it) keeps its compressed image data and loses everything else: it is rebuilt from the segments a
decoder needs, and decoded to prove it whole. Every other photo, and any whose image data holds markup
or another format's signature, is decoded and re-encoded from its pixels (a WebP as a JPEG: Pl@ntNet
takes JPEG and PNG only); a JPEG's data is then still decoded strictly, since Pillow takes damaged scan
data for whole. A file that is also another kind of file, where that kind's readers look for it (a
polyglot), is refused.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import re
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property, partial
from types import MappingProxyType
from typing import BinaryIO

import pillow_heif
import simplejpeg
from PIL import Image, ImageOps, UnidentifiedImageError

from app.core.messages import (
    UPLOAD_BAD_TYPE,
    UPLOAD_CORRUPT,
    UPLOAD_POLYGLOT,
    UPLOAD_TOO_MANY_PIXELS,
    UPLOAD_TOO_SMALL,
)
from app.core.offload import in_os_thread, run_in_os_thread

pillow_heif.register_heif_opener()

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "HEIF")

THUMBNAIL_SIDE = 320
JPEG_QUALITY = 88
THUMBNAIL_QUALITY = 80
# Box-reduce by an integer factor first, then Lanczos over the last step: a sharp preview at a fraction
# of full Lanczos' cost on a phone-sized photo.
THUMBNAIL_REDUCING_GAP = 1.0

# The JPEG plugin hands back "MPO" for a JPEG with an MP extension; we only ever read its frame 0.
# Stored as JPEG or PNG, the formats every provider takes.
_OUTPUT_FORMAT = MappingProxyType(
    {"JPEG": "JPEG", "MPO": "JPEG", "HEIF": "JPEG", "PNG": "PNG", "WEBP": "JPEG"}
)
_CONTENT_TYPE = MappingProxyType({"JPEG": "image/jpeg", "PNG": "image/png"})
_EXTENSION = MappingProxyType({"JPEG": ".jpg", "PNG": ".png"})
_HEIF_BRANDS = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1"}
)
_SNIFF_BYTES = 16

# JPEG segments a decoder needs: frame headers (SOF0-15 but the reserved C8), Huffman and arithmetic
# tables (C4, CC), quantisation tables (DB) and the restart interval (DD). Scans (DA) are copied with
# their entropy-coded data; APPn segments and comments (FE) are dropped; anything else is not copied.
_JPEG_KEPT = frozenset({*range(0xC0, 0xD0)} - {0xC8}) | {0xDB, 0xDD}
_JPEG_APP14 = 0xEE
_JPEG_SCAN = 0xDA
# Baseline and extended sequential Huffman frames (SOF0, SOF1): a scan of theirs has one meaning, whatever
# its spectral selection and successive approximation bytes say, so the copy writes them as the standard
# requires (0, 63, 0). Some encoders write zeros there; libjpeg warns and decodes as usual.
_JPEG_SEQUENTIAL = frozenset({0xC0, 0xC1})
_SEQUENTIAL_SCAN_PARAMETERS = b"\x00\x3f\x00"
_JPEG_EOI = b"\xff\xd9"
# In entropy-coded data a 0xFF is followed by a stuffed 0x00 or a restart marker; anything else ends it.
_JPEG_SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7]")
_ADOBE_SEGMENT_LENGTH = 14
_ORIENTATION_TAG = 0x0112
# What another reader would take for its own format inside the copied image data: markup a browser
# might render, a PDF header, ZIP records. A photo carrying any of these is re-encoded from its pixels.
# A tag another reader would act on, in any case: "<script", "<SVG", "<?xml", "<!DOCTYPE" ...
_MARKUP_TAG = re.compile(rb"<(?:script|html|svg|body|iframe|object|embed|\?xml|!doctype)", re.IGNORECASE)
# A PDF header, and ZIP's local-file and end-of-directory records. One search finds either record,
# by a fast literal scan for "PK": a search for each took as long again.
_PDF_SIGNATURE = b"%PDF-"
_ZIP_RECORD = re.compile(rb"PK(?:\x03\x04|\x05\x06)")
# Where other readers look for their own format in a file: browsers (sniffing markup) and PDF readers in
# its first kilobyte, ZIP readers for the end-of-directory record in its last 22 bytes plus the longest
# archive comment, and anyone at the start of what follows the image's own end. Found there, the upload is
# a polyglot and refused. The same signatures inside compressed image data may be chance (one in a few
# hundred photos holds "PK\x03\x04" somewhere), so there they only get the photo re-encoded.
_SNIFFED_HEAD = 1024
# Markup a browser would render or run ("<?xml" alone is not, and may start a photo's XMP metadata).
_SNIFFED_MARKUP = re.compile(rb"<(?:script|html|svg|body|iframe|object|embed|!doctype)", re.IGNORECASE)
_ZIP_END = re.compile(rb"PK\x05\x06")
_ZIP_TAIL = 22 + 65535
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Decoding at 1/8 scale still reads every bit of the compressed data, so it finds truncation and damage.
_VALIDATION_SCALE = 8
# libjpeg's warning for bytes it did not need between the last scan's data and the end-of-image marker.
# A few are padding some cameras write after whole image data; damaged scan data gives the same warning,
# but leaves many more unread (over a hundred in nearly every trial of random damage; 1,803 for the tests'
# zero-padded photo). Up to this many are taken for padding.
_END_PADDING = re.compile(r"(\d+) extraneous bytes before marker 0xd9")
_MAX_END_PADDING = 16
# What the check decodes a JPEG's colours to (by its header's colour space): libjpeg cannot turn CMYK into RGB.
_CHECK_COLORSPACE = MappingProxyType({"Gray": "GRAY", "CMYK": "CMYK", "YCCK": "CMYK"})


class ImageRejected(Exception):
    """An upload that is not an image we accept, with the HTTP status and user message to show."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    @classmethod
    def bad_type(cls) -> ImageRejected:
        """Build the rejection for a file that is not JPEG, PNG, WebP or HEIC."""
        return cls(415, "bad_type", UPLOAD_BAD_TYPE)

    @classmethod
    def corrupt(cls) -> ImageRejected:
        """Build the rejection for an empty, truncated or undecodable image."""
        return cls(422, "corrupt", UPLOAD_CORRUPT)

    @classmethod
    def too_many_pixels(cls) -> ImageRejected:
        """Build the rejection for an image over the pixel cap."""
        return cls(422, "too_many_pixels", UPLOAD_TOO_MANY_PIXELS)

    @classmethod
    def polyglot(cls) -> ImageRejected:
        """Build the rejection for a file that is also another kind of file (a page, archive or PDF)."""
        return cls(415, "polyglot", UPLOAD_POLYGLOT)

    @classmethod
    def too_small(cls) -> ImageRejected:
        """Build the rejection for an image with a side under the minimum."""
        return cls(422, "too_small", UPLOAD_TOO_SMALL)


@dataclass(frozen=True)
class CleanImage:
    """An image holding pixels only, ready to store."""

    data: bytes
    format: str
    content_type: str
    width: int
    height: int
    sha256: str
    extension: str

    @cached_property
    def thumbnail(self) -> bytes:
        """Return the JPEG preview, made on first use (a caller may store the photo before it)."""
        return make_thumbnail(self.data)


def sniff_is_image(first_bytes: bytes) -> bool:
    """Tell whether the bytes start like one of the allowed formats."""
    head = first_bytes[:_SNIFF_BYTES]
    if head.startswith(b"\xff\xd8\xff") or head.startswith(_PNG_SIGNATURE):
        return True
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return True
    return head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS


def clean_image(
    fp: BinaryIO | str | os.PathLike[str],
    *,
    max_pixels: int = 50_000_000,
    min_side: int = 200,
    max_side: int = 4096,
) -> CleanImage:
    """Check an uploaded image and return it re-encoded from its pixels, or raise ImageRejected.

    A seekable stream is read from its start, whatever its current position. The decoding runs in OS
    threads (see prepare_image), so a gevent worker goes on serving meanwhile.
    """
    image, verify = prepare_image(fp, max_pixels=max_pixels, min_side=min_side, max_side=max_side,
                                  start_check=in_os_thread)
    verify()
    return image


def prepare_image(
    fp: BinaryIO | str | os.PathLike[str],
    *,
    max_pixels: int = 50_000_000,
    min_side: int = 200,
    max_side: int = 4096,
    start_check: Callable[[Callable[[], None]], Callable[[], None]] = lambda check: check,
) -> tuple[CleanImage, Callable[[], None]]:
    """Clean an image as clean_image does, but leave its last check for the caller to wait for: verify().

    The check decodes a JPEG's image data strictly (a PNG, WebP or HEIF image was checked as it was
    decoded); verify() raises ImageRejected when it is truncated or damaged. The image must not be
    used before it passes. start_check(check) returns the function that waits for it: by default the
    check itself, run by verify(); in_os_thread starts it in another thread as soon as the bytes to
    check are known (the check runs without the GIL), so the cleaning, and the caller's storing of
    the bytes, go on beside it.
    """
    with _binary(fp) as stream:
        head = stream.read(_SNIFF_BYTES)
        if not head:
            raise ImageRejected.corrupt()
        stream.seek(0)
        with _open(stream, head) as img:
            width, height = img.size
            # The header is all we have read so far: refuse before any pixel is decoded.
            if width * height > max_pixels:
                raise ImageRejected.too_many_pixels()
            if min(width, height) < min_side:
                raise ImageRejected.too_small()
            source_format = img.format or ""
            if source_format not in _OUTPUT_FORMAT:
                raise ImageRejected.bad_type()
            stream.seek(0)
            original = stream.read()
            jpeg = _jpeg_copy(original) if source_format in ("JPEG", "MPO") else None
            if _is_polyglot(original, _image_end(original, source_format, jpeg)):
                raise ImageRejected.polyglot()
            copied = _copy_jpeg(jpeg[0] if jpeg else None, img, max_side, start_check)
            if copied is not None:
                return copied
            _draft_jpeg(img, max_side)
            # A tenth of a second or more of C work for a phone photo: in an OS thread, so that a gevent
            # worker's other requests and open sockets go on meanwhile. Inside the block: the upright
            # pixels may be the decoded image itself.
            image = run_in_os_thread(_reencode, img, _OUTPUT_FORMAT[source_format], max_side)
            if source_format not in ("JPEG", "MPO"):
                return image, _decoded_already
            # Pillow decoded it, but takes scan data cut short or padded for whole (libjpeg only warns).
            return image, start_check(partial(_verify_jpeg, jpeg[0] if jpeg else original))


def _reencode(img: Image.Image, out_format: str, max_side: int) -> CleanImage:
    """Decode an image in full, turn it upright and encode it again."""
    _decode(img)
    return _encode(_orient(img), out_format, max_side)


def _decoded_already() -> None:
    """The check of a PNG, WebP or HEIF image re-encoded from its pixels: decoding them checked it."""


@contextmanager
def _binary(fp: BinaryIO | str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Yield a seekable binary stream, opening (and closing) a path ourselves."""
    if isinstance(fp, (str, os.PathLike)):
        with open(fp, "rb") as handle:
            yield handle
        return
    seekable = getattr(fp, "seekable", None)
    if seekable is None or not seekable():
        yield io.BytesIO(fp.read())
        return
    fp.seek(0)
    yield fp


def _open(stream: BinaryIO, head: bytes) -> Image.Image:
    """Open the header with the allowlisted decoders only, mapping failures to rejections."""
    try:
        return Image.open(stream, formats=list(ALLOWED_FORMATS))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # The warning arrives as an exception only when warnings are errors (pytest -W error);
        # otherwise Pillow merely warns and our own cap, checked next, rejects the image.
        raise ImageRejected.too_many_pixels() from exc
    except UnidentifiedImageError as exc:
        if sniff_is_image(head):
            raise ImageRejected.corrupt() from exc
        raise ImageRejected.bad_type() from exc
    except Exception as exc:
        # Decoders raise many types on hostile headers (OSError, ValueError, struct.error, ...)
        # and any warning promoted to an error; a plugin got far enough to claim the file.
        raise ImageRejected.corrupt() from exc


def _copy_jpeg(data: bytes | None, img: Image.Image, max_side: int,
               start_check: Callable[[Callable[[], None]], Callable[[], None]],
               ) -> tuple[CleanImage, Callable[[], None]] | None:
    """Return an upright, small enough JPEG without its metadata (data, from _jpeg_copy), its
    image data untouched, and the wait for its check (started as soon as the copy exists).

    None means the photo needs its pixels rewritten: it must be turned or downscaled, is not RGB
    or grey, or has a layout we do not copy (a check started then is left to end unheeded).
    """
    if img.format not in ("JPEG", "MPO") or img.mode not in ("RGB", "L") or max(img.size) > max_side:
        return None
    try:
        orientation = img.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:
        return None  # broken EXIF: the re-encoding path copes with it
    if orientation != 1 or data is None:
        return None
    verify = start_check(partial(_verify_jpeg, data))
    if _carries_payload(data):
        return None
    with _open(io.BytesIO(data), data[:_SNIFF_BYTES]) as copy:
        if copy.size != img.size or copy.mode != img.mode:
            return None
        width, height = copy.size
    image = CleanImage(data=data, format="JPEG", content_type=_CONTENT_TYPE["JPEG"], width=width, height=height,
                       sha256=hashlib.sha256(data).hexdigest(), extension=_EXTENSION["JPEG"])
    return image, verify


def _verify_jpeg(data: bytes) -> None:
    """Decode a JPEG at 1/8 scale, taking libjpeg's warnings for errors, or raise ImageRejected.

    Every compressed bit is still read. libjpeg only warns on scan data that stops short of the
    image, is padded, or holds bytes it cannot decode, and fills what is missing with grey; Pillow
    does not surface its warnings, simplejpeg's strict mode raises them. The metadata should be gone
    (_jpeg_copy) so that a quirk in a segment we drop is not refused. Runs without the GIL.
    """
    try:
        colorspace = simplejpeg.decode_jpeg_header(data)[2]
    except ValueError:
        # A layout simplejpeg does not read (unusual chroma subsampling) that Pillow opened: its check.
        _verify_with_pillow(data)
        return
    try:
        simplejpeg.decode_jpeg(data, colorspace=_CHECK_COLORSPACE.get(colorspace, "RGB"),
                               min_factor=_VALIDATION_SCALE, fastdct=True, fastupsample=True, strict=True)
    except Exception as exc:  # ValueError for libjpeg's errors and warnings; anything else is damage too
        padding = _END_PADDING.search(str(exc))
        if padding is not None and int(padding.group(1)) <= _MAX_END_PADDING:
            return  # every block was decoded before the warning (strict decoding stops at the first)
        raise ImageRejected.corrupt() from exc


def _verify_with_pillow(data: bytes) -> None:
    """Decode a JPEG at 1/8 scale with Pillow, which refuses its errors but not its warnings."""
    with _open(io.BytesIO(data), data[:_SNIFF_BYTES]) as copy:
        width, height = copy.size
        copy.draft(None, (math.ceil(width / _VALIDATION_SCALE), math.ceil(height / _VALIDATION_SCALE)))
        # One call into libjpeg, which runs without the GIL, rather than one per 64 KB.
        copy.decodermaxblock = len(data)
        _decode(copy)


def _carries_payload(data: bytes) -> bool:
    """Tell whether image data holds something another reader could open (a polyglot)."""
    return (_PDF_SIGNATURE in data or _ZIP_RECORD.search(data) is not None
            or _MARKUP_TAG.search(data) is not None)


def _is_polyglot(data: bytes, image_end: int | None) -> bool:
    """Tell whether an upload is also another kind of file where that kind's readers look (see _SNIFFED_HEAD).

    What follows the image's end (image_end, None when unknown) is looked at only at its start: a phone
    may append a video there (a motion photo), whose compressed bytes hold any short signature by chance.
    """
    if _ZIP_END.search(data, max(0, len(data) - _ZIP_TAIL)):
        return True
    if _is_sniffed_as_another_format(data[:_SNIFFED_HEAD]):
        return True
    appended = data[image_end:image_end + _SNIFFED_HEAD].lstrip() if image_end is not None else b""
    return _ZIP_RECORD.match(appended) is not None or _is_sniffed_as_another_format(appended)


def _is_sniffed_as_another_format(head: bytes) -> bool:
    return _PDF_SIGNATURE in head or _SNIFFED_MARKUP.search(head) is not None


def _image_end(data: bytes, source_format: str, jpeg: tuple[bytes, int] | None) -> int | None:
    """Return where the image's own data ends in an upload (jpeg: its _jpeg_copy), or None where we
    cannot tell (a JPEG layout we do not copy, HEIF)."""
    if jpeg is not None:
        return jpeg[1]
    if source_format == "WEBP":
        (size,) = struct.unpack_from("<I", data, 4)
        return 8 + size + (size & 1)
    if source_format == "PNG":
        pos = len(_PNG_SIGNATURE)
        while pos + 8 <= len(data):
            (length,) = struct.unpack_from(">I", data, pos)
            kind = data[pos + 4:pos + 8]
            pos += 12 + length  # length, type, data, CRC
            if kind == b"IEND":
                return pos
    return None


def _jpeg_copy(data: bytes) -> tuple[bytes, int] | None:
    """Rebuild a JPEG from the segments its decoder needs, and return it with where the original's
    frame 0 ends; or None for a layout we do not copy.

    Kept: frame header, tables, restart interval, Adobe's colour-transform marker, and each scan with
    its entropy-coded data (a sequential scan's header with its standard parameters). Dropped: every
    other APPn segment (JFIF, EXIF with its GPS and thumbnail, XMP, ICC, MPF), comments, and whatever
    follows the end-of-image marker (MPO frames, appended files).
    """
    if not data.startswith(b"\xff\xd8"):
        return None
    parts = [b"\xff\xd8"]
    pos, end = 2, len(data)
    sequential = False
    while pos + 1 < end:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # a fill byte before the marker
            pos += 1
            continue
        if data[pos:pos + 2] == _JPEG_EOI:
            parts.append(_JPEG_EOI)
            return b"".join(parts), pos + 2
        if pos + 4 > end:
            return None
        (length,) = struct.unpack_from(">H", data, pos + 2)
        segment_end = pos + 2 + length
        if length < 2 or segment_end > end:
            return None
        if marker == _JPEG_SCAN:
            scan_end = _JPEG_SCAN_END.search(data, segment_end)
            if scan_end is None:
                return None
            header = data[pos:segment_end]
            if sequential and length > 6 and header[-3:] != _SEQUENTIAL_SCAN_PARAMETERS:
                header = header[:-3] + _SEQUENTIAL_SCAN_PARAMETERS
            parts.append(header + data[segment_end:scan_end.start()])
            pos = scan_end.start()
            continue
        if marker == _JPEG_APP14 and data[pos + 4:pos + 9] == b"Adobe":
            # Needed to read the colours right; only the standard size, so it carries nothing else.
            if length != _ADOBE_SEGMENT_LENGTH:
                return None
            parts.append(data[pos:segment_end])
        elif marker in _JPEG_KEPT:
            parts.append(data[pos:segment_end])
            sequential = sequential or marker in _JPEG_SEQUENTIAL
        elif not (0xE0 <= marker <= 0xEF or marker == 0xFE):
            return None
        pos = segment_end
    return None


def _draft_jpeg(img: Image.Image, max_side: int) -> None:
    """Let libjpeg decode at a reduced scale when the result will be downscaled anyway."""
    if img.format not in ("JPEG", "MPO"):
        return
    width, height = img.size
    ratio = max_side / max(width, height)
    if ratio >= 1:
        return
    # draft() keeps both sides at or above the request, so the final resize still does the work.
    img.draft(None, (math.ceil(width * ratio), math.ceil(height * ratio)))


def _decode(img: Image.Image) -> None:
    """Decode frame 0 in full, refusing truncated or damaged data."""
    try:
        img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected.too_many_pixels() from exc
    except Exception as exc:
        # Truncated and damaged files surface as OSError, SyntaxError, ValueError or EOFError.
        raise ImageRejected.corrupt() from exc


def _orient(img: Image.Image) -> Image.Image:
    """Return the image turned upright according to its EXIF orientation.

    The decoded image is ours alone, so it is turned in place: no copy of the pixels for the
    common photo that is already upright. Its metadata never reaches the output (see _encode).
    """
    try:
        ImageOps.exif_transpose(img, in_place=True)
    except Exception:
        # Broken EXIF does not make a broken photo: keep the pixels as stored.
        pass
    return img


def _encode(img: Image.Image, out_format: str, max_side: int) -> CleanImage:
    """Downscale, convert the mode and re-encode into a fresh, metadata-free image."""
    if max(img.size) > max_side:
        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    converted = _convert_mode(img, out_format)
    # A new image has an empty .info, so save() cannot copy EXIF, XMP, ICC, comments or MP data.
    # No fill colour: paste() overwrites every pixel.
    fresh = Image.new(converted.mode, converted.size, None)
    fresh.paste(converted)
    buffer = io.BytesIO()
    if out_format == "JPEG":
        fresh.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    else:
        fresh.save(buffer, format="PNG")
    data = buffer.getvalue()
    return CleanImage(
        data=data,
        format=out_format,
        content_type=_CONTENT_TYPE[out_format],
        width=fresh.width,
        height=fresh.height,
        sha256=hashlib.sha256(data).hexdigest(),
        extension=_EXTENSION[out_format],
    )


def _convert_mode(img: Image.Image, out_format: str) -> Image.Image:
    """Bring the pixels into a mode the output format stores faithfully."""
    if img.mode == "I" or img.mode.startswith("I;16"):
        # Pillow clips 16-bit grey to 255 when converting; scale it so the photo stays visible.
        img = img.convert("I").point(lambda value: value / 256).convert("L")
    has_alpha = img.has_transparency_data
    if out_format == "JPEG":
        if has_alpha:
            return _flatten(img)
        return img if img.mode in ("L", "RGB") else img.convert("RGB")
    if has_alpha:
        return img if img.mode == "RGBA" else img.convert("RGBA")
    if out_format == "PNG" and img.mode in ("1", "L"):
        return img.convert("L")
    return img if img.mode == "RGB" else img.convert("RGB")


def _flatten(img: Image.Image) -> Image.Image:
    """Composite transparent pixels onto white for formats without alpha."""
    rgba = img.convert("RGBA")
    background = Image.new("RGB", rgba.size, "white")
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background


def make_thumbnail(data: bytes) -> bytes:
    """Render the JPEG preview of a cleaned image's bytes, its longest side at most THUMBNAIL_SIDE.

    Decoded and scaled in an OS thread, so that a gevent worker goes on serving meanwhile."""
    return run_in_os_thread(_render_thumbnail, data)


def _render_thumbnail(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS)) as img:
        scale = min(1.0, THUMBNAIL_SIDE / max(img.size))
        # A JPEG decodes straight at a fraction of its size, no smaller than the preview.
        img.draft(None, (math.ceil(img.width * scale), math.ceil(img.height * scale)))
        img.load()
        return _thumbnail(img)


def _thumbnail(img: Image.Image) -> bytes:
    """Render a JPEG preview whose longest side is at most THUMBNAIL_SIDE."""
    if img.has_transparency_data:
        img = _flatten(img)
    elif img.mode != "RGB":
        img = img.convert("RGB")
    scale = min(1.0, THUMBNAIL_SIDE / max(img.size))
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    small = img.resize(size, Image.Resampling.LANCZOS, reducing_gap=THUMBNAIL_REDUCING_GAP) if scale < 1 else img
    buffer = io.BytesIO()
    small.save(buffer, format="JPEG", quality=THUMBNAIL_QUALITY)
    return buffer.getvalue()
