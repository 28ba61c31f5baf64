"""Build good and hostile images at test time, so no binary fixtures are committed."""

from __future__ import annotations

import io
import random
import struct
import sys
import zlib
from types import ModuleType

import pillow_heif
import pytest
from PIL import ExifTags, Image, ImageDraw
from PIL.TiffImagePlugin import IFDRational

GREEN = (34, 139, 34)
RED = (220, 20, 60)
CAMERA_MAKE = "VerdantTestCam"
CAMERA_MODEL = "LeakyPhone 9"
COMMENT = b"shot in my back garden"
XMP_PACKET = (
    b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" dc:creator="Alice Example"/>'
    b'</rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
)
SCRIPT = b"<script>alert(1)</script>"
ZIP_EOCD = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0, 0, 0, 0, 0)

HEIC_CAN_ENCODE = bool(pillow_heif.libheif_info().get("HEIF"))
requires_heic_encoder = pytest.mark.skipif(
    not HEIC_CAN_ENCODE, reason="libheif in this pillow_heif build has no HEVC encoder"
)


def _image(width: int, height: int, color: tuple[int, ...], mode: str = "RGB") -> Image.Image:
    """Draw a flat image with a contrasting top-left quadrant, so orientation can be checked."""
    img = Image.new(mode, (width, height), color)
    if mode in ("RGB", "RGBA"):
        marker = RED if mode == "RGB" else (*RED, 255)
        ImageDraw.Draw(img).rectangle((0, 0, width // 2 - 1, height // 2 - 1), fill=marker)
    return img


def _save(img: Image.Image, fmt: str, **params: object) -> bytes:
    """Encode an image into bytes."""
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def jpeg(width: int = 800, height: int = 600, color: tuple[int, int, int] = GREEN) -> bytes:
    """Build a plain RGB JPEG."""
    return _save(_image(width, height, color), "JPEG", quality=90)


def png(width: int = 800, height: int = 600, color: tuple[int, int, int] = GREEN) -> bytes:
    """Build a plain RGB PNG."""
    return _save(_image(width, height, color), "PNG")


def webp(width: int = 800, height: int = 600, color: tuple[int, int, int] = GREEN) -> bytes:
    """Build a plain RGB WebP."""
    return _save(_image(width, height, color), "WEBP", quality=90)


def heic(width: int = 800, height: int = 600, color: tuple[int, int, int] = GREEN) -> bytes:
    """Build a HEIC photo with pillow_heif, skipping the test when it cannot encode."""
    if not HEIC_CAN_ENCODE:
        pytest.skip("libheif in this pillow_heif build has no HEVC encoder")
    buffer = io.BytesIO()
    pillow_heif.from_pillow(_image(width, height, color)).save(buffer, quality=80)
    return buffer.getvalue()


def rgba_png(width: int = 400, height: int = 300) -> bytes:
    """Build an RGBA PNG with a half-transparent background."""
    return _save(_image(width, height, (*GREEN, 128), mode="RGBA"), "PNG")


def cmyk_jpeg(width: int = 400, height: int = 300) -> bytes:
    """Build a CMYK JPEG, as print workflows and some scanners produce."""
    return _save(Image.new("CMYK", (width, height), (200, 0, 200, 30)), "JPEG", quality=90)


def palette_png(width: int = 400, height: int = 300) -> bytes:
    """Build a palette PNG with a transparent index."""
    img = _image(width, height, GREEN).convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    return _save(img, "PNG", transparency=0)


def grey_jpeg(width: int = 400, height: int = 300) -> bytes:
    """Build a greyscale JPEG."""
    return _save(Image.new("L", (width, height), 90), "JPEG", quality=90)


def grey16_png(width: int = 400, height: int = 300, level: int = 30_000) -> bytes:
    """Build a 16-bit greyscale PNG, as scanners and RAW converters write."""
    return _save(Image.new("I;16", (width, height), level), "PNG")


def tiny_png(width: int = 50, height: int = 50) -> bytes:
    """Build a PNG below the minimum side."""
    return png(width, height)


def gif(width: int = 400, height: int = 300) -> bytes:
    """Build a GIF, a real image in a format we do not accept."""
    return _save(_image(width, height, GREEN).convert("P"), "GIF")


def bmp(width: int = 400, height: int = 300) -> bytes:
    """Build a BMP, a real image in a format we do not accept."""
    return _save(_image(width, height, GREEN), "BMP")


def tiff(width: int = 400, height: int = 300) -> bytes:
    """Build a TIFF, a real image in a format we do not accept."""
    return _save(_image(width, height, GREEN), "TIFF")


def svg_as_jpg() -> bytes:
    """Return SVG text with a script, as it would arrive named plant.jpg."""
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<svg xmlns="http://www.w3.org/2000/svg" width="800" height="600">'
        b'<rect width="800" height="600" fill="green"/>' + SCRIPT + b"</svg>\n"
    )


def html_bytes() -> bytes:
    """Return an HTML page with a script."""
    return (
        b"<!DOCTYPE html><html><head><title>plant</title></head><body>" + SCRIPT + b"</body></html>"
    )


def pdf_bytes() -> bytes:
    """Return a minimal one-page PDF."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    """Frame one PNG chunk with its length and CRC."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """Hand-write a PNG whose IHDR declares a huge size over a tiny IDAT; it never decodes."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _png_chunk(b"IEND", b"")
    )


def big_png(width: int = 8000, height: int = 7500) -> bytes:
    """Hand-write a 60 MP PNG header: over our 50 MP cap, under Pillow's own bomb warning."""
    return bomb_png(width, height)


def noisy_jpeg(width: int = 800, height: int = 600, seed: int = 7, orientation: int = 1) -> bytes:
    """Build a JPEG of seeded noise, so scan data dominates the file size (EXIF Orientation if not 1)."""
    pixels = random.Random(seed).randbytes(width * height * 3)
    params = {}
    if orientation != 1:
        exif = Image.Exif()
        exif[ExifTags.Base.Orientation] = orientation
        params["exif"] = exif
    return _save(Image.frombytes("RGB", (width, height), pixels), "JPEG", quality=90, **params)


def truncated_jpeg() -> bytes:
    """Return the first 60 % of a valid JPEG: the header parses, the scan data stops short."""
    data = noisy_jpeg()
    return data[: len(data) * 60 // 100]


def damaged_jpeg() -> bytes:
    """Return a JPEG whose structure is whole (end marker and all) but whose scan holds random bytes."""
    data = bytearray(noisy_jpeg())
    start = data.find(b"\xff\xda") + 2000
    data[start:start + 2000] = random.Random(11).randbytes(2000)
    return bytes(data)


def cut_short_jpeg(base: bytes | None = None) -> bytes:
    """Return a JPEG whose scan data stops halfway, closed by an end-of-image marker as if whole.

    libjpeg only warns ("premature end of data segment") and fills the rest grey.
    """
    data = base or noisy_jpeg()
    scan = data.index(b"\xff\xda")
    return data[: (scan + len(data)) // 2] + b"\xff\xd9"


def zero_padded_jpeg() -> bytes:
    """Return a JPEG with 2,000 zero bytes written over the middle of its scan data (libjpeg only warns)."""
    data = noisy_jpeg()
    middle = len(data) // 2
    return data[:middle] + bytes(2000) + data[middle + 2000:]


def end_padded_jpeg(base: bytes | None = None, padding: bytes = b"\x12\x34") -> bytes:
    """Return a whole JPEG with a few bytes between its last scan's data and its end-of-image marker, as
    some cameras write it: libjpeg warns ("N extraneous bytes before marker 0xd9") once every block is decoded."""
    data = base or noisy_jpeg()
    assert data.endswith(b"\xff\xd9")
    return data[:-2] + padding + b"\xff\xd9"


def zeroed_scan_parameters_jpeg(base: bytes | None = None) -> bytes:
    """Return a baseline JPEG whose scan headers give 0 for every spectral and approximation parameter,
    as some encoders write them: libjpeg warns ("Invalid SOS parameters for sequential JPEG") and
    decodes it as usual, since a sequential scan has only one meaning."""
    data = bytearray(base or noisy_jpeg())
    pos = data.index(b"\xff\xda")
    (length,) = struct.unpack_from(">H", data, pos + 2)
    data[pos + 2 + length - 3:pos + 2 + length] = b"\x00\x00\x00"
    return bytes(data)


def polyglot() -> bytes:
    """Return a valid JPEG followed by a script and a ZIP end-of-central-directory record."""
    return jpeg() + SCRIPT + ZIP_EOCD


def _exif_with_thumbnail(exif: Image.Exif, thumbnail: bytes) -> bytes:
    """Serialise EXIF and chain an IFD1 that embeds a JPEG thumbnail.

    Pillow's Exif.tobytes() writes IFD0 (with the Exif and GPS sub-IFDs) but never IFD1, so we
    patch IFD0's next-IFD pointer to an IFD1 appended after Pillow's data.
    """
    raw = exif.tobytes()
    tiff = bytearray(raw[6:])
    order = "<" if tiff[:2] == b"II" else ">"
    (ifd0_offset,) = struct.unpack_from(order + "I", tiff, 4)
    (entries,) = struct.unpack_from(order + "H", tiff, ifd0_offset)
    next_pointer = ifd0_offset + 2 + 12 * entries
    if len(tiff) % 2:
        tiff += b"\x00"
    ifd1_offset = len(tiff)
    thumb_offset = ifd1_offset + 2 + 3 * 12 + 4
    struct.pack_into(order + "I", tiff, next_pointer, ifd1_offset)
    tiff += struct.pack(order + "H", 3)
    # SHORT values sit left-justified in the 4-byte value field, hence HH for Compression.
    tiff += struct.pack(order + "HHIHH", 0x0103, 3, 1, 6, 0)  # Compression: JPEG thumbnail
    tiff += struct.pack(order + "HHII", 0x0201, 4, 1, thumb_offset)  # JPEGInterchangeFormat
    tiff += struct.pack(order + "HHII", 0x0202, 4, 1, len(thumbnail))  # ...Length
    tiff += struct.pack(order + "I", 0)
    tiff += thumbnail
    return b"Exif\x00\x00" + bytes(tiff)


def exif_gps_jpeg(width: int = 400, height: int = 300, orientation: int = 6, **params: object) -> bytes:
    """Build a JPEG with GPS, Make/Model, capture date, Orientation=6, XMP, comment, thumbnail."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = CAMERA_MAKE
    exif[ExifTags.Base.Model] = CAMERA_MODEL
    exif[ExifTags.Base.Orientation] = orientation
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = "2024:05:01 07:30:00"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSVersionID] = b"\x02\x02\x00\x00"
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (IFDRational(51), IFDRational(28), IFDRational(38))
    gps[ExifTags.GPS.GPSLongitudeRef] = "W"
    gps[ExifTags.GPS.GPSLongitude] = (IFDRational(0), IFDRational(0), IFDRational(46))
    thumbnail = _save(Image.new("RGB", (160, 120), (0, 0, 255)), "JPEG", quality=70)
    return _save(
        _image(width, height, GREEN),
        "JPEG",
        quality=90,
        exif=_exif_with_thumbnail(exif, thumbnail),
        xmp=XMP_PACKET,
        comment=COMMENT,
        **params,
    )


def upright_exif_gps_jpeg() -> bytes:
    """The same metadata on a photo that needs no turning (its data is copied, not re-encoded),
    plus an ICC profile and a progressive scan."""
    icc = b"\x00" * 128 + CAMERA_MAKE.encode()  # Pillow stores the profile's bytes as given
    return exif_gps_jpeg(orientation=1, icc_profile=icc, progressive=True)


def jpeg_with_scan_payload(payload: bytes, offset: int = 16) -> bytes:
    """Hide bytes inside a JPEG's entropy-coded data, offset bytes in, where no segment rule can see them.

    The decoder mostly meets them as damaged data and warns (verify() refuses those); Pillow still opens
    and decodes the file. At the default offset they lie in the file's first kilobyte (see DEEP_IN_SCAN).
    """
    data = jpeg()
    scan = data.index(b"\xff\xda")
    (length,) = struct.unpack_from(">H", data, scan + 2)
    start = scan + 2 + length + offset
    assert start < len(data) - 2, "the offset runs past the scan data"
    return data[:start] + payload + data[start:]


# An offset into jpeg()'s scan data past the file's first kilobyte, where browsers and PDF readers look.
DEEP_IN_SCAN = 2000


def jpeg_with_trailer(trailer: bytes, base: bytes | None = None) -> bytes:
    """Append bytes after a JPEG's end-of-image marker, as a phone appends a motion photo's video."""
    return (base or jpeg()) + trailer


def motion_photo_trailer() -> bytes:
    """Return the start of an MP4 as a motion photo appends it, its data holding, by chance, signatures
    that would be a payload at the start of what follows a photo."""
    data = random.Random(3).randbytes(200_000)
    return (struct.pack(">I4s4sI", 24, b"ftyp", b"mp42", 0) + b"isommp42" + data[:5000]
            + b"PK\x03\x04<svg %PDF-" + data[5000:])


def jpeg_with_segment(marker: int, payload: bytes, base: bytes | None = None) -> bytes:
    """Insert one segment (marker, payload) right after a JPEG's start-of-image marker."""
    data = base or jpeg()
    return data[:2] + struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload + data[2:]


def mpo_two_frames(huge: int = 60_000) -> bytes:
    """Build an MPO whose second frame declares huge x huge pixels.

    Pillow's MPO writer (save_all with append_images) makes a valid two-frame file at
    400x300; we then rewrite the height and width in the second frame's SOF0 marker.
    Frame 0 stays valid; only a reader that seek()s to frame 1 meets the bomb.
    """
    first = _image(400, 300, GREEN)
    second = _image(400, 300, (0, 0, 255))
    data = bytearray(_save(first, "MPO", save_all=True, append_images=[second], quality=90))
    second_start = data.index(b"\xff\xd8\xff", 2)
    sof = data.index(b"\xff\xc0", second_start)
    # SOF0 layout: marker(2) length(2) precision(1) height(2) width(2)
    struct.pack_into(">HH", data, sof + 5, huge, huge)
    return bytes(data)


@pytest.fixture
def image_factory() -> ModuleType:
    """Give tests this module's builders, as the shared `image_factory` fixture."""
    return sys.modules[__name__]
