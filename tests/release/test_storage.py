"""Release storage: a local directory, and S3 through boto3 against real servers.

moto (server mode) stands in for S3 for the data path; SeaweedFS checks presigned URLs,
so the access-control tests (expired, tampered) run against it.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from lightbox.release.errors import ObjectNotFound, StorageError
from lightbox.release.storage import (
    LocalStorage,
    ReleaseStorage,
    S3Storage,
    artifact_key,
    storage_from_url,
)
from tests.release.s3servers import S3Server


def test_local_storage(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path / "store")
    assert isinstance(store, ReleaseStorage)
    src = tmp_path / "a.bin"
    src.write_bytes(b"x" * 1000)
    seen: list[int] = []
    store.put("releases/1.0/a.lbx", src, progress=seen.append)
    assert sum(seen) == 1000
    assert store.size("releases/1.0/a.lbx") == 1000
    store.get("releases/1.0/a.lbx", tmp_path / "b.bin")
    assert (tmp_path / "b.bin").read_bytes() == src.read_bytes()
    url = store.presigned_get_url("releases/1.0/a.lbx")
    assert url.startswith("file://")
    store.delete("releases/1.0/a.lbx")
    assert store.size("releases/1.0/a.lbx") is None
    with pytest.raises(ObjectNotFound):
        store.get("releases/1.0/a.lbx", tmp_path / "c.bin")
    with pytest.raises(StorageError, match="invalid storage key"):
        store.put("../escape", src)


def test_storage_from_url(tmp_path: Path) -> None:
    assert isinstance(storage_from_url(str(tmp_path)), LocalStorage)
    assert isinstance(storage_from_url(tmp_path.as_uri()), LocalStorage)
    s3 = storage_from_url(
        "s3://bucket/some/prefix?endpoint=http://127.0.0.1:9&region=eu-west-1",
        access_key="a",
        secret_key="b",
    )
    assert isinstance(s3, S3Storage)
    assert s3.describe("k") == "s3://bucket/some/prefix/k"
    with pytest.raises(StorageError, match="unknown options"):
        storage_from_url("s3://bucket?secret=oops")
    with pytest.raises(StorageError):
        storage_from_url("ftp://host/x")
    assert artifact_key("1.2.0") == "releases/1.2.0/lightbox-1.2.0.lbx"


def test_s3_put_multipart_get_and_presigned_download(moto: S3Server, tmp_path: Path) -> None:
    store = moto.storage(moto.new_bucket(), "prefix")
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(range(256)) * (9 * 4096 + 7))  # > 8 MiB: a multipart upload
    seen: list[int] = []
    store.put("releases/1.0/big.lbx", big, progress=seen.append)
    assert sum(seen) == big.stat().st_size
    head = store.client.head_object(Bucket=store.bucket, Key="prefix/releases/1.0/big.lbx")
    assert "-" in head["ETag"]  # multipart ETags are <md5>-<parts>
    assert store.size("releases/1.0/big.lbx") == big.stat().st_size
    url = store.presigned_get_url("releases/1.0/big.lbx", expires=60)
    response = httpx.get(url, headers={"Range": "bytes=100-199"})
    assert response.status_code == 206
    assert response.content == big.read_bytes()[100:200]
    store.get("releases/1.0/big.lbx", tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == big.read_bytes()
    assert store.size("missing") is None
    with pytest.raises(ObjectNotFound):
        store.get("missing", tmp_path / "x")


def test_s3_unreachable_is_a_storage_error(tmp_path: Path) -> None:
    store = S3Storage("bucket", endpoint_url="http://127.0.0.1:9", access_key="a", secret_key="b")
    store.client.meta.config.retries = {"max_attempts": 1}
    src = tmp_path / "a"
    src.write_bytes(b"a")
    with pytest.raises(StorageError):
        store.size("x")


def test_presigned_url_works_and_expired_or_tampered_urls_are_refused(
    seaweedfs: S3Server, tmp_path: Path
) -> None:
    store = seaweedfs.storage(seaweedfs.new_bucket())
    src = tmp_path / "a.lbx"
    src.write_bytes(b"release bytes" * 100)
    store.put("releases/1.0/a.lbx", src)
    good = store.presigned_get_url("releases/1.0/a.lbx", expires=60)
    assert httpx.get(good).content == src.read_bytes()
    # tampered: another object's key under the same signature, or a changed signature
    store.put("releases/1.0/b.lbx", src)
    assert httpx.get(good.replace("/a.lbx", "/b.lbx")).status_code == 403
    sig_at = good.index("X-Amz-Signature=") + len("X-Amz-Signature=")
    flipped = "0" if good[sig_at] != "0" else "1"
    assert httpx.get(good[:sig_at] + flipped + good[sig_at + 1 :]).status_code == 403
    # signed with the wrong secret
    wrong = S3Storage(
        store.bucket,
        endpoint_url=seaweedfs.endpoint,
        access_key=seaweedfs.access_key,
        secret_key="not-the-secret",
    )
    assert httpx.get(wrong.presigned_get_url("releases/1.0/a.lbx")).status_code == 403
    # expired
    short = store.presigned_get_url("releases/1.0/a.lbx", expires=1)
    time.sleep(2.1)
    assert httpx.get(short).status_code == 403
    # without any signature
    assert httpx.get(good.split("?")[0]).status_code == 403
