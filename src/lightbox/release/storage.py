"""Where release artifacts live: S3-compatible storage, or a local directory.

Devices never read storage directly: the cloud hands them a presigned URL
(:meth:`ReleaseStorage.presigned_get_url`), so the API never streams artifact bytes.
The local-directory storage is the embedded default for a single machine; its "presigned"
URL is a ``file://`` URL, meaningful on that machine only.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import parse_qs, unquote, urlsplit

from lightbox.release.errors import ObjectNotFound, StorageError

Progress = Callable[[int], None]
MULTIPART_THRESHOLD = 8 << 20
MULTIPART_CHUNK = 8 << 20


def artifact_key(version: str, prefix: str = "releases") -> str:
    """Storage key of a release's artifact; the channel is metadata, not a location."""
    return f"{prefix}/{version}/lightbox-{version}.lbx"


@runtime_checkable
class ReleaseStorage(Protocol):
    def put(self, key: str, path: Path, *, progress: Progress | None = None) -> None:
        """Store the file under ``key`` (replacing an object of that key)."""

    def get(self, key: str, dest: Path, *, progress: Progress | None = None) -> None:
        """Copy the object to ``dest``; ObjectNotFound when there is none."""

    def size(self, key: str) -> int | None:
        """The object's size, or None when there is none."""

    def delete(self, key: str) -> None:
        """Remove the object (no error when there is none)."""

    def presigned_get_url(self, key: str, expires: int = 3600) -> str:
        """A URL that downloads the object with no other credentials until it expires."""

    def describe(self, key: str) -> str:
        """Where the object is, for people (s3://bucket/key or a path)."""


def _boto_errors() -> tuple[type[Exception], ...]:
    """botocore's error bases (imported late: boto3 is an optional dependency)."""
    from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

    return (BotoCoreError, ClientError)


def _clean_key(key: str) -> str:
    parts = key.strip("/").split("/")
    if not key or any(p in ("", ".", "..") for p in parts):
        raise StorageError(f"invalid storage key {key!r}")
    return "/".join(parts)


class LocalStorage:
    """Objects as files under a directory (the embedded default)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / _clean_key(key)

    def put(self, key: str, path: Path, *, progress: Progress | None = None) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        try:
            with path.open("rb") as src, tmp.open("wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
                    if progress:
                        progress(len(chunk))
                dst.flush()
                os.fsync(dst.fileno())
            os.replace(tmp, target)
        except OSError as err:
            raise StorageError(f"cannot store {key} in {self.root}: {err.strerror}") from err
        finally:
            tmp.unlink(missing_ok=True)

    def get(self, key: str, dest: Path, *, progress: Progress | None = None) -> None:
        source = self._path(key)
        if not source.is_file():
            raise ObjectNotFound(f"no object {key} in {self.root}")
        shutil.copyfile(source, dest)
        if progress:
            progress(dest.stat().st_size)

    def size(self, key: str) -> int | None:
        path = self._path(key)
        return path.stat().st_size if path.is_file() else None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def presigned_get_url(self, key: str, expires: int = 3600) -> str:
        return self._path(key).resolve().as_uri()

    def describe(self, key: str) -> str:
        return str(self._path(key))


class S3Storage:
    """Objects in an S3-compatible bucket through boto3 (multipart for big files)."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        client: Any = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if client is None:
            import boto3  # type: ignore[import-untyped]
            from botocore.config import Config  # type: ignore[import-untyped]

            client = boto3.client(
                "s3",
                endpoint_url=endpoint_url,
                region_name=region or "us-east-1",
                aws_access_key_id=access_key,
                aws_secret_access_key=secret_key,
                config=Config(
                    signature_version="s3v4",
                    s3={"addressing_style": "path"},
                    retries={"max_attempts": 5, "mode": "standard"},
                ),
            )
        self.client: Any = client

    def _key(self, key: str) -> str:
        key = _clean_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _error(self, err: Exception, key: str, action: str) -> StorageError:
        if hasattr(err, "response"):
            code = str(err.response.get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchKey", "NotFound"):
                return ObjectNotFound(f"no object {self.describe(key)}")
            return StorageError(f"cannot {action} {self.describe(key)}: {code} {err}")
        return StorageError(f"cannot {action} {self.describe(key)}: {err}")

    def put(self, key: str, path: Path, *, progress: Progress | None = None) -> None:
        from boto3.s3.transfer import TransferConfig  # type: ignore[import-untyped]

        errors = _boto_errors()

        config = TransferConfig(
            multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_CHUNK
        )
        try:
            self.client.upload_file(
                str(path), self.bucket, self._key(key), Config=config, Callback=progress
            )
        except errors as err:
            raise self._error(err, key, "upload") from err

    def get(self, key: str, dest: Path, *, progress: Progress | None = None) -> None:
        errors = _boto_errors()

        try:
            self.client.download_file(self.bucket, self._key(key), str(dest), Callback=progress)
        except errors as err:
            raise self._error(err, key, "download") from err

    def size(self, key: str) -> int | None:
        errors = _boto_errors()

        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except errors as err:
            error = self._error(err, key, "look up")
            if isinstance(error, ObjectNotFound):
                return None
            raise error from err
        return int(head["ContentLength"])

    def delete(self, key: str) -> None:
        errors = _boto_errors()

        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except errors as err:
            raise self._error(err, key, "delete") from err

    def presigned_get_url(self, key: str, expires: int = 3600) -> str:
        errors = _boto_errors()

        try:
            url: str = self.client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": self._key(key)},
                ExpiresIn=expires,
            )
        except errors as err:
            raise self._error(err, key, "presign") from err
        return url

    def describe(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"


def storage_from_url(url: str, **s3_options: Any) -> ReleaseStorage:
    """``s3://bucket/prefix?endpoint=http://host:port&region=...``, ``file:///dir`` or a path.

    S3 credentials come from ``s3_options`` (access_key, secret_key) or boto3's usual chain
    (environment, config files); never from the URL.
    """
    parts = urlsplit(url)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise StorageError(f"{url}: s3:// URLs need a bucket")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = set(query) - {"endpoint", "region"}
        if unknown:
            raise StorageError(f"{url}: unknown options {', '.join(sorted(unknown))}")
        return S3Storage(
            parts.netloc,
            unquote(parts.path),
            endpoint_url=query.get("endpoint"),
            region=query.get("region"),
            **s3_options,
        )
    if parts.scheme == "file":
        return LocalStorage(Path(unquote(parts.path)))
    if parts.scheme:
        raise StorageError(f"{url}: storage must be s3://, file:// or a directory")
    return LocalStorage(Path(url))


__all__ = [
    "LocalStorage",
    "ReleaseStorage",
    "S3Storage",
    "artifact_key",
    "storage_from_url",
]
