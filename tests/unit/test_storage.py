"""Storage backends: local folder round trips and safety, S3 against a real HTTP emulator."""

from __future__ import annotations

import os
import socket
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from app.core.storage import (
    STORAGES,
    LocalStorage,
    S3Storage,
    StorageError,
    build_storage,
    validate_key,
)

PHOTO = b"\xff\xd8\xff\xe0 not really a jpeg \xff\xd9"
TRAVERSAL_KEYS = [
    "../escape.jpg",
    "a/../../escape.jpg",
    "a/..",
    "..",
    "/etc/passwd",
    "a\\..\\escape.jpg",
    "C:/Windows/win.ini",
    "a//b.jpg",
    "./a.jpg",
    "a/b/",
    "nul\x00.jpg",
    "",
]
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def local(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "media")


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
    # stop() shuts the loop down but leaves the listening socket open (a ResourceWarning).
    server._server.server_close()  # type: ignore[union-attr]


@pytest.fixture
def s3_settings(s3_endpoint: str) -> dict[str, str]:
    bucket = f"verdant-{uuid.uuid4().hex[:12]}"
    admin = boto3.session.Session(region_name="us-east-1", **_lower(FAKE_CREDENTIALS)).client(
        "s3", endpoint_url=s3_endpoint
    )
    admin.create_bucket(Bucket=bucket)
    admin.close()
    return {
        "STORAGE_BACKEND": "s3",
        "S3_BUCKET": bucket,
        "S3_ENDPOINT_URL": s3_endpoint,
        "S3_REGION": "us-east-1",
        **FAKE_CREDENTIALS,
    }


@pytest.fixture
def s3(s3_settings: dict[str, str]) -> Iterator[S3Storage]:
    storage = build_storage(s3_settings)
    assert isinstance(storage, S3Storage)
    yield storage
    storage.close()


def _lower(credentials: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in credentials.items()}


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read()


def test_local_round_trip(local: LocalStorage) -> None:
    local.save("identifications/ab/abcd.jpg", PHOTO, "image/jpeg")

    assert local.open("identifications/ab/abcd.jpg") == PHOTO
    assert local.exists("identifications/ab/abcd.jpg")
    assert local.url("identifications/ab/abcd.jpg") is None
    assert local.list_keys() == ["identifications/ab/abcd.jpg"]


def test_local_delete_removes_and_tolerates_missing(local: LocalStorage) -> None:
    local.save("a.jpg", PHOTO, "image/jpeg")

    local.delete("a.jpg")
    local.delete("a.jpg")

    assert not local.exists("a.jpg")
    assert local.list_keys() == []


def test_local_open_missing_raises_file_not_found(local: LocalStorage) -> None:
    with pytest.raises(FileNotFoundError):
        local.open("missing.jpg")


def test_local_list_keys_filters_by_prefix(local: LocalStorage) -> None:
    for key in ("blog/1.jpg", "forum/2.png", "forum/3.webp"):
        local.save(key, PHOTO, "image/jpeg")

    assert local.list_keys("forum/") == ["forum/2.png", "forum/3.webp"]
    assert local.list_keys("nothing/") == []


def test_local_list_keys_on_missing_root_is_empty(tmp_path: Path) -> None:
    assert LocalStorage(tmp_path / "never-created").list_keys() == []


def test_local_save_overwrites_atomically_and_leaves_no_temp_files(local: LocalStorage) -> None:
    local.save("a.jpg", b"old", "image/jpeg")
    local.save("a.jpg", b"new", "image/jpeg")

    assert local.open("a.jpg") == b"new"
    assert sorted(os.listdir(local.root)) == ["a.jpg"]
    assert (local.root / "a.jpg").stat().st_mode & 0o777 == 0o644


def test_local_save_failure_keeps_old_file_and_cleans_temp(
    local: LocalStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    local.save("a.jpg", b"old", "image/jpeg")

    def failing_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(StorageError):
        local.save("a.jpg", b"new", "image/jpeg")

    assert local.open("a.jpg") == b"old"
    assert sorted(os.listdir(local.root)) == ["a.jpg"]


def test_local_save_into_unwritable_root_raises_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "media"
    blocker.write_bytes(b"a file where the folder should be")

    with pytest.raises(StorageError):
        LocalStorage(blocker).save("a.jpg", PHOTO, "image/jpeg")


def test_local_list_keys_hides_in_flight_temp_files(local: LocalStorage) -> None:
    local.save("a.jpg", PHOTO, "image/jpeg")
    (local.root / ".tmp-abc123").write_bytes(b"partial")

    assert local.list_keys() == ["a.jpg"]


@pytest.mark.parametrize("key", TRAVERSAL_KEYS)
def test_local_refuses_unsafe_key(local: LocalStorage, key: str) -> None:
    for call in (
        lambda: local.save(key, PHOTO, "image/jpeg"),
        lambda: local.open(key),
        lambda: local.delete(key),
        lambda: local.exists(key),
        lambda: local.url(key),
    ):
        with pytest.raises(ValueError):
            call()
    assert not (local.root.parent / "escape.jpg").exists()


def test_local_refuses_symlink_escape(local: LocalStorage, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    local.root.mkdir()
    (local.root / "link").symlink_to(outside)

    with pytest.raises(ValueError):
        local.save("link/evil.jpg", PHOTO, "image/jpeg")
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize("key", ["a.jpg", "identifications/ab/cd.jpg", "x..y.jpg", "ü/ñ.png"])
def test_validate_key_accepts_plain_relative_keys(key: str) -> None:
    assert validate_key(key) == key


def test_build_storage_defaults_to_local(tmp_path: Path) -> None:
    storage = build_storage({"MEDIA_ROOT": str(tmp_path)})

    assert isinstance(storage, LocalStorage)
    assert storage.root == tmp_path


def test_build_storage_rejects_unknown_backend(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="local, s3"):
        build_storage({"STORAGE_BACKEND": "ftp", "MEDIA_ROOT": str(tmp_path)})


def test_build_storage_requires_settings() -> None:
    with pytest.raises(ValueError, match="MEDIA_ROOT"):
        build_storage({"STORAGE_BACKEND": "local"})
    with pytest.raises(ValueError, match="S3_BUCKET"):
        build_storage({"STORAGE_BACKEND": "s3"})


def test_storages_registry_is_read_only() -> None:
    assert dict(STORAGES) == {"local": LocalStorage, "s3": S3Storage}
    with pytest.raises(TypeError):
        STORAGES["ftp"] = LocalStorage  # type: ignore[index]


def test_s3_round_trip(s3: S3Storage) -> None:
    s3.save("identifications/ab/abcd.jpg", PHOTO, "image/jpeg")

    assert s3.open("identifications/ab/abcd.jpg") == PHOTO
    assert s3.exists("identifications/ab/abcd.jpg")
    assert not s3.exists("identifications/ab/other.jpg")
    head = s3.client.head_object(Bucket=s3.bucket, Key="identifications/ab/abcd.jpg")
    assert head["ContentType"] == "image/jpeg"


def test_s3_list_and_delete(s3: S3Storage) -> None:
    for key in ("blog/1.jpg", "forum/2.png", "forum/3.webp"):
        s3.save(key, PHOTO, "image/png")

    assert s3.list_keys() == ["blog/1.jpg", "forum/2.png", "forum/3.webp"]
    assert s3.list_keys("forum/") == ["forum/2.png", "forum/3.webp"]

    s3.delete("forum/2.png")
    s3.delete("forum/2.png")

    assert s3.list_keys("forum/") == ["forum/3.webp"]
    assert not s3.exists("forum/2.png")


def test_s3_open_missing_raises_file_not_found(s3: S3Storage) -> None:
    with pytest.raises(FileNotFoundError):
        s3.open("missing.jpg")


def test_s3_presigned_url_serves_the_object(s3: S3Storage) -> None:
    s3.save("a.jpg", PHOTO, "image/jpeg")

    url = s3.url("a.jpg")

    assert url is not None
    assert "X-Amz-Signature=" in url
    assert _fetch(url) == PHOTO


def test_s3_prefix_is_applied_and_hidden(s3_settings: dict[str, str]) -> None:
    storage = build_storage({**s3_settings, "S3_PREFIX": "media/"})
    assert isinstance(storage, S3Storage)
    try:
        storage.save("a.jpg", PHOTO, "image/jpeg")

        assert storage.list_keys() == ["a.jpg"]
        assert storage.client.head_object(Bucket=storage.bucket, Key="media/a.jpg")
        assert _fetch(storage.url("a.jpg") or "") == PHOTO
    finally:
        storage.close()


def test_s3_public_url_is_used_when_set(s3_settings: dict[str, str]) -> None:
    storage = build_storage(
        {**s3_settings, "S3_PREFIX": "media", "S3_PUBLIC_URL": "https://cdn.example.test/"}
    )
    try:
        assert storage.url("ab/c d.jpg") == "https://cdn.example.test/media/ab/c%20d.jpg"
    finally:
        storage.close()


def test_s3_missing_bucket_raises_storage_error(s3_settings: dict[str, str]) -> None:
    storage = build_storage({**s3_settings, "S3_BUCKET": "no-such-bucket-here"})
    try:
        with pytest.raises(StorageError):
            storage.save("a.jpg", PHOTO, "image/jpeg")
        with pytest.raises(StorageError):
            storage.open("a.jpg")
    finally:
        storage.close()


@pytest.fixture
def dead_s3() -> Iterator[S3Storage]:
    storage = build_storage(
        {
            "STORAGE_BACKEND": "s3",
            "S3_BUCKET": "verdant",
            "S3_ENDPOINT_URL": f"http://127.0.0.1:{_free_port()}",
            **FAKE_CREDENTIALS,
        }
    )
    assert isinstance(storage, S3Storage)
    yield storage
    storage.close()


@pytest.mark.parametrize("key", TRAVERSAL_KEYS)
def test_s3_refuses_unsafe_key_before_any_request(dead_s3: S3Storage, key: str) -> None:
    for call in (
        lambda: dead_s3.save(key, PHOTO, "image/jpeg"),
        lambda: dead_s3.open(key),
        lambda: dead_s3.delete(key),
        lambda: dead_s3.exists(key),
        lambda: dead_s3.url(key),
    ):
        with pytest.raises(ValueError):
            call()


@pytest.mark.parametrize(
    "operation",
    [
        pytest.param(lambda s: s.save("a.jpg", PHOTO, "image/jpeg"), id="save"),
        pytest.param(lambda s: s.open("a.jpg"), id="open"),
        pytest.param(lambda s: s.exists("a.jpg"), id="exists"),
        pytest.param(lambda s: s.delete("a.jpg"), id="delete"),
        pytest.param(lambda s: s.list_keys(), id="list_keys"),
    ],
)
def test_s3_dead_endpoint_raises_storage_error_quickly(
    dead_s3: S3Storage, operation: Callable[[S3Storage], object]
) -> None:
    started = time.perf_counter()
    with pytest.raises(StorageError):
        operation(dead_s3)

    assert time.perf_counter() - started < 3.0
