"""Media storage behind one interface: a local folder or an S3-compatible bucket, by config."""

from __future__ import annotations

import contextlib
import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

_TEMP_PREFIX = ".tmp-"
_MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


class StorageError(Exception):
    """The storage backend failed; callers show STORAGE_DOWN with a 503."""


def validate_key(key: str) -> str:
    """Return the key if it is a safe relative POSIX path, else raise ValueError."""
    if not isinstance(key, str) or not key:
        raise ValueError("storage key must be a non-empty string")
    if "\\" in key or "\x00" in key:
        raise ValueError(f"storage key has a forbidden character: {key!r}")
    if key.startswith("/") or PurePosixPath(key).is_absolute() or (len(key) > 1 and key[1] == ":"):
        raise ValueError(f"storage key must be relative: {key!r}")
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise ValueError(f"storage key has an empty, '.' or '..' segment: {key!r}")
    return key


class Storage(ABC):
    """Where media files live; every backend failure surfaces as StorageError."""

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Storage:
        """Build the backend from app settings."""

    @abstractmethod
    def save(self, key: str, data: bytes, content_type: str) -> None:
        """Store data under key, replacing any previous object."""

    @abstractmethod
    def open(self, key: str) -> bytes:
        """Return the bytes stored under key; raise FileNotFoundError when there are none."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object under key; a missing key is not an error."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Tell whether an object is stored under key."""

    @abstractmethod
    def url(self, key: str) -> str | None:
        """Return a URL a browser can fetch, or None when the app serves the file itself."""

    @abstractmethod
    def list_keys(self, prefix: str = "") -> list[str]:
        """Return the sorted keys that start with prefix."""

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release pooled connections or other resources; a no-op by default."""


class LocalStorage(Storage):
    """Files in a folder on this machine, written atomically."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> LocalStorage:
        """Build local storage rooted at MEDIA_ROOT."""
        root = settings.get("MEDIA_ROOT")
        if not root:
            raise ValueError("MEDIA_ROOT must be set for local storage")
        return cls(root)

    def _path(self, key: str) -> Path:
        """Map a key to a path, refusing anything that resolves outside the root."""
        path = self.root / validate_key(key)
        root = os.path.realpath(self.root)
        # A symlink inside the root could still point elsewhere, so compare resolved paths.
        if os.path.commonpath([root, os.path.realpath(path)]) != root:
            raise ValueError(f"storage key escapes the media root: {key!r}")
        return path

    def save(self, key: str, data: bytes, content_type: str) -> None:
        """Write data to a temporary file beside the target, then rename it into place."""
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, temp_name = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=path.parent)
        except OSError as exc:
            raise StorageError(f"cannot write {key!r}: {exc}") from exc
        try:
            with os.fdopen(handle, "wb") as temp:
                temp.write(data)
                temp.flush()
                os.fsync(temp.fileno())
            # mkstemp creates 0600; media should be readable by a front server like any upload.
            os.chmod(temp_name, 0o644)
            os.replace(temp_name, path)
        except BaseException as exc:
            _remove_quietly(temp_name)
            if isinstance(exc, OSError):
                raise StorageError(f"cannot write {key!r}: {exc}") from exc
            raise

    def open(self, key: str) -> bytes:
        """Read the file stored under key."""
        path = self._path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise
        except IsADirectoryError as exc:
            raise FileNotFoundError(key) from exc
        except OSError as exc:
            raise StorageError(f"cannot read {key!r}: {exc}") from exc

    def delete(self, key: str) -> None:
        """Remove the file stored under key, if any."""
        path = self._path(key)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot delete {key!r}: {exc}") from exc

    def exists(self, key: str) -> bool:
        """Tell whether a file is stored under key."""
        return self._path(key).is_file()

    def url(self, key: str) -> str | None:
        """Return None: the app serves local media itself."""
        self._path(key)
        return None

    def list_keys(self, prefix: str = "") -> list[str]:
        """Return the stored keys under the root that start with prefix, skipping temp files."""
        if not self.root.is_dir():
            return []
        keys: list[str] = []
        try:
            for folder, _dirs, files in os.walk(self.root):
                for name in files:
                    if name.startswith(_TEMP_PREFIX):
                        continue
                    key = Path(folder, name).relative_to(self.root).as_posix()
                    if key.startswith(prefix):
                        keys.append(key)
        except OSError as exc:
            raise StorageError(f"cannot list media: {exc}") from exc
        return sorted(keys)


class S3Storage(Storage):
    """Objects in an S3-compatible bucket, with short timeouts so a dead endpoint fails fast."""

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        prefix: str = "",
        public_url: str | None = None,
        url_expires: int = 3600,
        connect_timeout: float = 2.0,
        read_timeout: float = 5.0,
        max_attempts: int = 2,
    ) -> None:
        if not bucket:
            raise ValueError("S3_BUCKET must be set for S3 storage")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.public_url = public_url.rstrip("/") if public_url else None
        self.url_expires = url_expires
        config = BotoConfig(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"max_attempts": max_attempts, "mode": "standard"},
            signature_version="s3v4",
            # Self-hosted endpoints (MinIO, moto, Ceph) rarely resolve bucket subdomains.
            s3={"addressing_style": "path" if endpoint_url else "auto"},
        )
        # A session of our own: boto3's default session is shared module state and not thread-safe.
        session = boto3.session.Session(
            aws_access_key_id=access_key_id or None,
            aws_secret_access_key=secret_access_key or None,
            region_name=region,
        )
        self.client = session.client("s3", endpoint_url=endpoint_url or None, config=config)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> S3Storage:
        """Build S3 storage from the S3_* and AWS_* settings."""
        return cls(
            settings.get("S3_BUCKET") or "",
            endpoint_url=settings.get("S3_ENDPOINT_URL"),
            region=settings.get("S3_REGION") or "us-east-1",
            access_key_id=settings.get("AWS_ACCESS_KEY_ID"),
            secret_access_key=settings.get("AWS_SECRET_ACCESS_KEY"),
            prefix=settings.get("S3_PREFIX") or "",
            public_url=settings.get("S3_PUBLIC_URL"),
        )

    def _key(self, key: str) -> str:
        return self.prefix + validate_key(key)

    def save(self, key: str, data: bytes, content_type: str) -> None:
        """Upload data under key with its content type."""
        full_key = self._key(key)
        try:
            self.client.put_object(
                Bucket=self.bucket, Key=full_key, Body=data, ContentType=content_type
            )
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"cannot write {key!r}: {exc}") from exc

    def open(self, key: str) -> bytes:
        """Download the object stored under key."""
        full_key = self._key(key)
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=full_key)
            with response["Body"] as body:
                return body.read()
        except ClientError as exc:
            if _is_missing(exc):
                raise FileNotFoundError(key) from exc
            raise StorageError(f"cannot read {key!r}: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"cannot read {key!r}: {exc}") from exc

    def delete(self, key: str) -> None:
        """Delete the object under key; S3 treats a missing key as success."""
        full_key = self._key(key)
        try:
            self.client.delete_object(Bucket=self.bucket, Key=full_key)
        except ClientError as exc:
            if not _is_missing(exc):
                raise StorageError(f"cannot delete {key!r}: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"cannot delete {key!r}: {exc}") from exc

    def exists(self, key: str) -> bool:
        """Tell whether an object is stored under key."""
        full_key = self._key(key)
        try:
            self.client.head_object(Bucket=self.bucket, Key=full_key)
        except ClientError as exc:
            if _is_missing(exc):
                return False
            raise StorageError(f"cannot check {key!r}: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"cannot check {key!r}: {exc}") from exc
        return True

    def url(self, key: str) -> str | None:
        """Return the public URL when S3_PUBLIC_URL is set, else a presigned GET URL."""
        full_key = self._key(key)
        if self.public_url:
            return f"{self.public_url}/{quote(full_key)}"
        try:
            return self.client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": full_key},
                ExpiresIn=self.url_expires,
            )
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"cannot sign a URL for {key!r}: {exc}") from exc

    def list_keys(self, prefix: str = "") -> list[str]:
        """Return the sorted keys in the bucket (below S3_PREFIX) that start with prefix."""
        keys: list[str] = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix + prefix
            )
            for page in pages:
                keys.extend(item["Key"][len(self.prefix) :] for item in page.get("Contents", []))
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"cannot list media: {exc}") from exc
        return sorted(keys)

    def close(self) -> None:
        """Release the client's pooled connections."""
        self.client.close()


STORAGES: Mapping[str, type[Storage]] = MappingProxyType({"local": LocalStorage, "s3": S3Storage})


def build_storage(settings: Mapping[str, Any]) -> Storage:
    """Build the storage backend named by STORAGE_BACKEND (default "local")."""
    name = (settings.get("STORAGE_BACKEND") or "local").lower()
    try:
        backend = STORAGES[name]
    except KeyError:
        raise ValueError(
            f"unknown STORAGE_BACKEND {name!r}; choose one of {', '.join(sorted(STORAGES))}"
        ) from None
    return backend.from_settings(settings)


def _is_missing(exc: ClientError) -> bool:
    """Tell whether a ClientError means the object does not exist."""
    # Not the bare HTTP status: a missing bucket is also a 404, and that is a misconfiguration.
    return str(exc.response.get("Error", {}).get("Code")) in _MISSING_CODES


def _remove_quietly(path: str) -> None:
    """Delete a leftover temp file, ignoring one that is already gone."""
    with contextlib.suppress(OSError):
        os.unlink(path)


def get_storage() -> Storage:
    """Return the app's media storage."""
    from flask import current_app
    return current_app.extensions["storage"]
