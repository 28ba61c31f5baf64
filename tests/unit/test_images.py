"""Image validation and cleaning: accepted formats, hostile inputs, what survives re-encoding."""

from __future__ import annotations

import hashlib
import io
import struct
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import ExifTags, Image, ImageFile, MpoImagePlugin

from app.core import images as images_module
from app.core import messages
from app.core.images import (ALLOWED_FORMATS, CleanImage, ImageRejected, clean_image, prepare_image,
                             sniff_is_image)
from tests import image_factory as factory


def _name(build: Callable[..., bytes]) -> str:
    return build.__name__


def _clean(data: bytes, **limits: int) -> CleanImage:
    return clean_image(io.BytesIO(data), **limits)


def _reopen(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


@pytest.mark.parametrize(
    ("build", "fmt", "size", "mode"),
    [
        pytest.param(factory.jpeg, "JPEG", (800, 600), "RGB", id="jpeg"),
        pytest.param(factory.png, "PNG", (800, 600), "RGB", id="png"),
        pytest.param(factory.webp, "JPEG", (800, 600), "RGB", id="webp"),
        pytest.param(factory.heic, "JPEG", (800, 600), "RGB", id="heic"),
        pytest.param(factory.rgba_png, "PNG", (400, 300), "RGBA", id="rgba-png"),
        pytest.param(factory.palette_png, "PNG", (400, 300), "RGBA", id="palette-png"),
        pytest.param(factory.cmyk_jpeg, "JPEG", (400, 300), "RGB", id="cmyk-jpeg"),
        pytest.param(factory.grey_jpeg, "JPEG", (400, 300), "L", id="grey-jpeg"),
        pytest.param(factory.grey16_png, "PNG", (400, 300), "L", id="grey16-png"),
        pytest.param(factory.mpo_two_frames, "JPEG", (400, 300), "RGB", id="mpo-frame-0"),
    ],
)
def test_clean_image_accepts_allowed_format(
    build: Callable[[], bytes], fmt: str, size: tuple[int, int], mode: str
) -> None:
    result = _clean(build())

    stored = _reopen(result.data)
    assert (result.format, stored.format) == (fmt, fmt)
    assert (result.width, result.height) == size == stored.size
    assert stored.mode == mode
    assert result.content_type == Image.MIME[fmt]
    assert result.extension == {"JPEG": ".jpg", "PNG": ".png"}[fmt]
    assert result.sha256 == hashlib.sha256(result.data).hexdigest()


@pytest.mark.parametrize(
    "build", [factory.jpeg, factory.rgba_png, factory.webp, factory.grey_jpeg], ids=_name
)
def test_clean_image_thumbnail_is_small_jpeg(build: Callable[[], bytes]) -> None:
    result = _clean(build())

    thumb = _reopen(result.thumbnail)
    assert thumb.format == "JPEG"
    assert max(thumb.size) <= 320
    assert thumb.mode == "RGB"


def test_clean_image_thumbnail_keeps_aspect_ratio() -> None:
    thumb = _reopen(_clean(factory.jpeg(800, 600)).thumbnail)

    assert thumb.size == (320, 240)


@pytest.mark.parametrize(
    ("data", "status", "code", "message"),
    [
        pytest.param(factory.svg_as_jpg(), 415, "bad_type", messages.UPLOAD_BAD_TYPE, id="svg"),
        pytest.param(factory.html_bytes(), 415, "bad_type", messages.UPLOAD_BAD_TYPE, id="html"),
        pytest.param(factory.pdf_bytes(), 415, "bad_type", messages.UPLOAD_BAD_TYPE, id="pdf"),
        pytest.param(factory.gif(), 415, "bad_type", messages.UPLOAD_BAD_TYPE, id="gif"),
        pytest.param(factory.bmp(), 415, "bad_type", messages.UPLOAD_BAD_TYPE, id="bmp"),
        pytest.param(factory.tiff(), 415, "bad_type", messages.UPLOAD_BAD_TYPE, id="tiff"),
        pytest.param(
            b"PK\x03\x04" + bytes(64), 415, "bad_type", messages.UPLOAD_BAD_TYPE, id="zip"
        ),
        pytest.param(b"", 422, "corrupt", messages.UPLOAD_CORRUPT, id="empty"),
        pytest.param(
            factory.truncated_jpeg(), 422, "corrupt", messages.UPLOAD_CORRUPT, id="truncated"
        ),
        pytest.param(
            factory.jpeg()[:40], 422, "corrupt", messages.UPLOAD_CORRUPT, id="header-only"
        ),
        pytest.param(
            b"\x89PNG\r\n\x1a\n" + bytes(100),
            422,
            "corrupt",
            messages.UPLOAD_CORRUPT,
            id="png-magic-junk",
        ),
        pytest.param(
            factory.bomb_png(), 422, "too_many_pixels", messages.UPLOAD_TOO_MANY_PIXELS, id="bomb"
        ),
        pytest.param(
            factory.big_png(), 422, "too_many_pixels", messages.UPLOAD_TOO_MANY_PIXELS, id="60mp"
        ),
        pytest.param(
            factory.bomb_png(10_000, 10_000),
            422,
            "too_many_pixels",
            messages.UPLOAD_TOO_MANY_PIXELS,
            id="100mp-pillow-warning-range",
        ),
        pytest.param(
            factory.tiny_png(50, 50), 422, "too_small", messages.UPLOAD_TOO_SMALL, id="tiny"
        ),
        pytest.param(
            factory.png(1000, 150), 422, "too_small", messages.UPLOAD_TOO_SMALL, id="thin"
        ),
    ],
)
def test_clean_image_rejects_hostile_input(
    data: bytes, status: int, code: str, message: str
) -> None:
    with pytest.raises(ImageRejected) as caught:
        _clean(data)

    assert (caught.value.status, caught.value.code, caught.value.message) == (status, code, message)


def test_damaged_scan_is_found_by_the_deferred_check() -> None:
    data = factory.damaged_jpeg()
    image, verify = prepare_image(io.BytesIO(data))  # the structure is whole: the copy is prepared
    assert image.format == "JPEG"
    with pytest.raises(ImageRejected) as caught:
        verify()
    assert caught.value.code == "corrupt"
    with pytest.raises(ImageRejected):
        clean_image(io.BytesIO(data))


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(factory.cut_short_jpeg, id="cut-short-copied"),
        pytest.param(lambda: factory.cut_short_jpeg(factory.noisy_jpeg(orientation=6)), id="cut-short-turned"),
        pytest.param(factory.zero_padded_jpeg, id="zero-padded"),
    ],
)
def test_scan_data_libjpeg_only_warns_about_is_refused(build: Callable[[], bytes]) -> None:
    data = build()
    # Pillow decodes these without complaint, filling what is missing with grey.
    _reopen(data)
    _image, verify = prepare_image(io.BytesIO(data))
    with pytest.raises(ImageRejected) as caught:
        verify()
    assert (caught.value.status, caught.value.code) == (422, "corrupt")
    with pytest.raises(ImageRejected):
        clean_image(io.BytesIO(data))


@pytest.mark.parametrize("orientation", [pytest.param(1, id="copied"), pytest.param(6, id="turned")])
def test_a_baseline_jpeg_with_zeroed_scan_parameters_is_accepted(orientation: int) -> None:
    original = factory.noisy_jpeg(orientation=orientation)
    quirky = factory.zeroed_scan_parameters_jpeg(original)

    result = _clean(quirky)

    assert (result.width, result.height) == ((800, 600) if orientation == 1 else (600, 800))
    if orientation == 1:  # the copy's image data decodes to the original's pixels
        assert _reopen(result.data).tobytes() == _reopen(original).tobytes()
    with pytest.raises(ImageRejected):  # still checked strictly: damage after the quirk is found
        _clean(factory.cut_short_jpeg(quirky))


@pytest.mark.parametrize("orientation", [pytest.param(1, id="copied"), pytest.param(6, id="turned")])
def test_a_jpeg_padded_by_a_few_bytes_before_its_end_is_accepted(orientation: int) -> None:
    original = factory.noisy_jpeg(orientation=orientation)

    result = _clean(factory.end_padded_jpeg(original))

    assert (result.width, result.height) == ((800, 600) if orientation == 1 else (600, 800))
    if orientation == 1:
        assert _reopen(result.data).tobytes() == _reopen(original).tobytes()
    # Damaged scan data leaves many bytes unread before the end: still refused (zero-padded: 1,803).
    with pytest.raises(ImageRejected):
        _clean(factory.end_padded_jpeg(original, bytes(range(1, 40))))


def test_a_jpeg_layout_simplejpeg_cannot_read_is_checked_by_pillow() -> None:
    # TurboJPEG's API reads no CMYK photo with subsampled channels; Pillow opens it.
    buffer = io.BytesIO()
    Image.open(io.BytesIO(factory.noisy_jpeg())).convert("CMYK").save(buffer, "JPEG", subsampling=2)
    whole = buffer.getvalue()

    image, verify = prepare_image(io.BytesIO(whole))
    verify()
    assert (image.width, image.height) == (800, 600)
    with pytest.raises(ImageRejected) as caught:
        clean_image(io.BytesIO(whole[: len(whole) * 6 // 10]))
    assert caught.value.code == "corrupt"


def test_deferred_check_passes_a_whole_photo() -> None:
    image, verify = prepare_image(io.BytesIO(factory.noisy_jpeg()))
    verify()
    assert image == clean_image(io.BytesIO(factory.noisy_jpeg()))


def test_a_copied_jpegs_check_starts_before_the_rest_of_its_cleaning(monkeypatch: pytest.MonkeyPatch) -> None:
    steps: list[str] = []
    real_payload_check = images_module._carries_payload

    def payload_check(data: bytes) -> bool:
        steps.append("payload check")
        return real_payload_check(data)

    def start_check(check: Callable[[], None]) -> Callable[[], None]:
        steps.append("check started")
        return check

    monkeypatch.setattr(images_module, "_carries_payload", payload_check)
    image, verify = prepare_image(io.BytesIO(factory.noisy_jpeg()), start_check=start_check)
    verify()
    # The decoding check, the longest step, runs beside the payload search, the hashing and the storing.
    assert steps == ["check started", "payload check"] and image.format == "JPEG"


def test_a_check_started_for_a_copy_then_dropped_is_not_the_one_waited_for() -> None:
    started: list[Callable[[], None]] = []

    def start_check(check: Callable[[], None]) -> Callable[[], None]:
        started.append(check)
        return check

    # A payload in the image data: the copy is dropped, and the photo re-encoded from its pixels.
    image, verify = prepare_image(io.BytesIO(factory.jpeg_with_scan_payload(factory.SCRIPT, factory.DEEP_IN_SCAN)),
                                  start_check=start_check)
    assert len(started) == 2 and verify is started[-1]
    assert factory.SCRIPT not in image.data


@pytest.mark.parametrize("build", [factory.bomb_png, factory.big_png], ids=_name)
def test_clean_image_rejects_pixel_bomb_without_decoding(
    build: Callable[[], bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded: list[object] = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(self))
    data = build()

    started = time.perf_counter()
    with pytest.raises(ImageRejected) as caught:
        _clean(data)

    assert caught.value.message == messages.UPLOAD_TOO_MANY_PIXELS
    assert decoded == []
    assert time.perf_counter() - started < 0.5


def test_clean_image_rejects_pillow_warning_range_when_warnings_are_not_errors() -> None:
    with pytest.warns(Image.DecompressionBombWarning), pytest.raises(ImageRejected) as caught:
        _clean(factory.bomb_png(10_000, 10_000))

    assert caught.value.code == "too_many_pixels"


def test_clean_image_honours_custom_pixel_cap() -> None:
    with pytest.raises(ImageRejected) as caught:
        _clean(factory.jpeg(800, 600), max_pixels=400_000)

    assert caught.value.code == "too_many_pixels"


def test_clean_image_scales_16_bit_grey_instead_of_clipping() -> None:
    stored = _reopen(_clean(factory.grey16_png(level=30_000)).data)

    assert stored.getpixel((0, 0)) == 30_000 // 256


def test_clean_image_applies_exif_orientation() -> None:
    result = _clean(factory.exif_gps_jpeg(400, 300))

    stored = _reopen(result.data)
    assert (result.width, result.height) == (300, 400) == stored.size
    # The stored top-left red quadrant is displayed top-right once rotated 90° clockwise.
    top_right = stored.convert("RGB").getpixel((result.width - 20, 20))
    top_left = stored.convert("RGB").getpixel((20, 20))
    assert isinstance(top_right, tuple)
    assert isinstance(top_left, tuple)
    assert top_right[0] > 150
    assert top_right[1] < 80
    assert top_left[1] > 100


@pytest.mark.parametrize(
    "build",
    [factory.exif_gps_jpeg, factory.upright_exif_gps_jpeg, factory.mpo_two_frames],
    ids=_name,
)
def test_clean_image_strips_all_metadata(build: Callable[[], bytes]) -> None:
    result = _clean(build())

    stored = _reopen(result.data)
    assert len(stored.getexif()) == 0
    assert not {"exif", "xmp", "comment", "icc_profile", "mp"} & set(stored.info)
    for blob in (result.data, result.thumbnail):
        for marker in (
            b"GPS",
            b"Exif",
            b"<x:xmpmeta",
            b"http://ns.adobe.com/xap",
            b"MPF\x00",
            b"<script",
            factory.CAMERA_MAKE.encode(),
            factory.COMMENT,
        ):
            assert marker not in blob
        assert blob.count(b"\xff\xd8\xff") == 1, "an embedded thumbnail or second frame survived"


def test_clean_image_copies_an_upright_jpegs_image_data() -> None:
    original = factory.noisy_jpeg(640, 480)

    result = _clean(original)

    # Re-encoding noise would change its pixels; a copy of the scan data decodes to the same ones.
    assert _reopen(result.data).tobytes() == _reopen(original).tobytes()
    assert (result.format, result.width, result.height) == ("JPEG", 640, 480)


@pytest.mark.parametrize(
    "marker", [pytest.param(0xFE, id="comment"), pytest.param(0xEF, id="app15"), pytest.param(0xE1, id="app1")]
)
@pytest.mark.parametrize(
    "payload", [pytest.param(factory.SCRIPT, id="script"), pytest.param(b"%PDF-1.7 obj", id="pdf"),
                pytest.param(factory.ZIP_EOCD, id="zip")]
)
def test_clean_image_refuses_a_jpeg_whose_segments_hold_another_file(marker: int, payload: bytes) -> None:
    # In the first kilobyte a browser or a PDF reader takes the file for theirs; a ZIP reader finds the
    # end record near the end of a small file.
    with pytest.raises(ImageRejected) as caught:
        _clean(factory.jpeg_with_segment(marker, payload))

    assert (caught.value.status, caught.value.code) == (415, "polyglot")


@pytest.mark.parametrize(
    "trailer",
    [pytest.param(factory.SCRIPT, id="script"), pytest.param(b"\r\n <!DOCTYPE html><p>hi", id="html"),
     pytest.param(b"%PDF-1.7\n1 0 obj", id="pdf"), pytest.param(b"PK\x03\x04\x14\x00" + bytes(200_000), id="zip")],
)
@pytest.mark.parametrize("build", [factory.noisy_jpeg, factory.png, factory.webp], ids=_name)
def test_clean_image_refuses_an_image_with_another_file_appended(build: Callable[[], bytes], trailer: bytes) -> None:
    with pytest.raises(ImageRejected) as caught:
        _clean(build() + trailer)

    assert (caught.value.status, caught.value.code) == (415, "polyglot")
    assert caught.value.message == messages.UPLOAD_POLYGLOT


def test_clean_image_takes_a_motion_photo_and_drops_its_video() -> None:
    # A phone appends the video after the photo; its data holds signatures by chance, deep inside.
    original = factory.jpeg_with_trailer(factory.motion_photo_trailer(), base=factory.noisy_jpeg())

    result = _clean(original)

    assert b"ftyp" not in result.data and result.data.endswith(b"\xff\xd9")
    assert _reopen(result.data).tobytes() == _reopen(factory.noisy_jpeg()).tobytes()


@pytest.mark.parametrize(
    "payload",
    # (ZIP's end record is looked for in a file's last 64 KB: in this small photo, a polyglot, refused above.)
    [pytest.param(factory.SCRIPT, id="script"), pytest.param(b"%PDF-1.7 obj", id="pdf"),
     pytest.param(b"PK\x03\x04\x14\x00", id="zip-entry"),
     pytest.param(b"<SCRIPT SRC=//x>", id="script-upper"),
     pytest.param(b"<Svg onload=1>", id="svg-mixed"), pytest.param(b"<?xml version='1.0'?>", id="xml"),
     pytest.param(b"<!DocType html>", id="doctype"), pytest.param(b"<iframe src=x>", id="iframe")],
)
def test_clean_image_reencodes_a_jpeg_hiding_a_payload_in_its_image_data(payload: bytes) -> None:
    # Bytes woven into valid scan data can decode without a warning. These are inserted, which
    # libjpeg may notice (then verify() refuses the photo too): the choice is tested before the check.
    # Deep in the data no reader looks there, and they may be chance: the photo is not refused.
    original = factory.jpeg_with_scan_payload(payload, factory.DEEP_IN_SCAN)
    assert payload in original

    result, _verify = prepare_image(io.BytesIO(original))

    assert payload not in result.data
    assert _reopen(result.data).size == (800, 600)


@pytest.mark.parametrize("harmless", [b"<scr", b"< script", b"<scalar", b"x<3 svg"])
def test_clean_image_copies_image_data_with_harmless_angle_brackets(harmless: bytes) -> None:
    original = factory.jpeg_with_scan_payload(harmless)

    result, _verify = prepare_image(io.BytesIO(original))  # as above, the choice before the check

    assert harmless in result.data  # copied as is, not re-encoded


def test_clean_image_reencodes_an_oversized_adobe_segment() -> None:
    # A real Adobe segment is 14 bytes; a longer one could carry anything, so the photo is re-encoded.
    original = factory.jpeg_with_segment(0xEE, b"Adobe\x00\x64\x00\x00\x00\x00\x01" + b"anything at all")

    result = _clean(original)

    assert b"anything at all" not in result.data
    assert _reopen(result.data).size == (800, 600)


def test_clean_image_refuses_a_polyglot() -> None:
    with pytest.raises(ImageRejected) as caught:
        _clean(factory.polyglot())

    assert caught.value.code == "polyglot"


def test_clean_image_reads_only_first_mpo_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    real_seek = MpoImagePlugin.MpoImageFile.seek

    def recording_seek(self: MpoImagePlugin.MpoImageFile, frame: int) -> None:
        seen.append(frame)
        real_seek(self, frame)

    monkeypatch.setattr(MpoImagePlugin.MpoImageFile, "seek", recording_seek)
    result = _clean(factory.mpo_two_frames())

    assert result.format == "JPEG"
    assert all(frame == 0 for frame in seen)


@pytest.mark.parametrize(
    ("build", "max_side", "size"),
    [
        pytest.param(lambda: factory.jpeg(5000, 3000), 4096, (4096, 2458), id="jpeg-default-cap"),
        pytest.param(lambda: factory.png(600, 1000), 500, (300, 500), id="png-portrait"),
        pytest.param(lambda: factory.webp(1000, 600), 500, (500, 300), id="webp"),
    ],
)
def test_clean_image_downscales_to_max_side(
    build: Callable[[], bytes], max_side: int, size: tuple[int, int]
) -> None:
    result = _clean(build(), max_side=max_side)

    assert (result.width, result.height) == size == _reopen(result.data).size


def test_clean_image_accepts_path(tmp_path: Path) -> None:
    path = tmp_path / "plant.jpg"
    path.write_bytes(factory.jpeg())

    assert clean_image(path).format == "JPEG"
    assert clean_image(str(path)).format == "JPEG"


def test_clean_image_rejects_svg_named_jpg_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "plant.jpg"
    path.write_bytes(factory.svg_as_jpg())

    with pytest.raises(ImageRejected) as caught:
        clean_image(path)

    assert caught.value.status == 415


def test_clean_image_accepts_unseekable_stream() -> None:
    class Unseekable(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._inner = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
            return self._inner.readinto(buffer)

    assert clean_image(Unseekable(factory.png())).format == "PNG"  # type: ignore[arg-type]


def test_clean_image_is_deterministic() -> None:
    assert _clean(factory.jpeg()).sha256 == _clean(factory.jpeg()).sha256


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (factory.jpeg(), True),
        (factory.png(), True),
        (factory.webp(), True),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", True),
        (b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00", True),
        (factory.gif(), False),
        (factory.bmp(), False),
        (factory.svg_as_jpg(), False),
        (factory.pdf_bytes(), False),
        (b"", False),
    ],
)
def test_sniff_is_image_matches_magic(data: bytes, expected: bool) -> None:
    assert sniff_is_image(data[:32]) is expected


def test_allowed_formats_are_the_documented_four() -> None:
    assert ALLOWED_FORMATS == ("JPEG", "PNG", "WEBP", "HEIF")


def test_factory_exif_gps_jpeg_carries_what_it_claims() -> None:
    data = factory.exif_gps_jpeg()
    img = Image.open(io.BytesIO(data))
    exif = img.getexif()

    assert exif[ExifTags.Base.Orientation] == 6
    assert exif[ExifTags.Base.Make] == factory.CAMERA_MAKE
    assert exif.get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitudeRef] == "N"
    assert ExifTags.Base.DateTimeOriginal in exif.get_ifd(ExifTags.IFD.Exif)
    assert img.info["xmp"] == factory.XMP_PACKET
    assert img.info["comment"] == factory.COMMENT
    ifd1 = exif.get_ifd(ExifTags.IFD.IFD1)
    tiff = img.info["exif"][6:]
    offset, length = ifd1[0x0201], ifd1[0x0202]
    assert tiff[offset : offset + 3] == b"\xff\xd8\xff"
    assert length > 100


def test_factory_mpo_second_frame_is_a_bomb() -> None:
    img = Image.open(io.BytesIO(factory.mpo_two_frames()))

    assert (img.format, getattr(img, "n_frames", 1)) == ("MPO", 2)
    with pytest.raises(Image.DecompressionBombError):
        img.seek(1)


def test_factory_truncated_jpeg_fails_only_at_decode() -> None:
    img = Image.open(io.BytesIO(factory.truncated_jpeg()))

    assert img.size == (800, 600)
    with pytest.raises(OSError):
        img.load()


def test_factory_bomb_png_has_valid_chunk_crcs() -> None:
    data = factory.bomb_png()
    position = 8
    while position < len(data):
        (length,) = struct.unpack_from(">I", data, position)
        chunk = data[position + 4 : position + 8 + length]
        (crc,) = struct.unpack_from(">I", data, position + 8 + length)
        assert crc == zlib.crc32(chunk)
        position += 12 + length
    assert Image.open(io.BytesIO(factory.big_png())).size == (8000, 7500)


@pytest.mark.parametrize("build", [lambda: factory.noisy_jpeg(orientation=6), factory.png], ids=["turned-jpeg", "png"])
def test_decoding_and_thumbnails_run_outside_the_calling_thread(build: Callable[[], bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    # Under gevent the caller's thread is the worker's event loop: decoding there would stall every
    # other request and socket of the worker for as long as it takes.
    threads: list[int] = []
    for name in ("_decode", "_verify_jpeg", "_render_thumbnail"):
        real = getattr(images_module, name)

        def recording(*args, real=real):
            threads.append(threading.get_ident())
            return real(*args)

        monkeypatch.setattr(images_module, name, recording)

    image = _clean(build())
    assert image.thumbnail.startswith(b"\xff\xd8")

    assert len(threads) >= 2 and threading.get_ident() not in threads
