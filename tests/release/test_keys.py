"""Key files (PEM and raw base64), key ids, and the trust store directory."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from lightbox.release.errors import BadSignature, KeyFileError, RevokedKey, UntrustedKey
from lightbox.release.keys import (
    TrustStore,
    generate_key,
    key_id,
    load_private_key,
    load_public_key,
    save_private_key,
    save_public_key,
)


@pytest.mark.parametrize("fmt", ["pem", "raw"])
def test_save_and_load_round_trip(tmp_path: Path, fmt: str) -> None:
    key = generate_key()
    save_private_key(key, tmp_path / "k.key", fmt)  # type: ignore[arg-type]
    save_public_key(key.public_key(), tmp_path / "k.pub", fmt)  # type: ignore[arg-type]
    assert stat.S_IMODE((tmp_path / "k.key").stat().st_mode) == 0o600
    loaded = load_private_key(tmp_path / "k.key")
    assert key_id(loaded) == key_id(key) == key_id(load_public_key(tmp_path / "k.pub"))
    assert len(key_id(key)) == 16
    with pytest.raises(KeyFileError, match="exists"):
        save_private_key(key, tmp_path / "k.key")


def test_bad_key_files_are_refused_with_the_file_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pub"
    bad.write_text("not a key at all!")
    with pytest.raises(KeyFileError, match="bad.pub"):
        load_public_key(bad)
    bad.write_text("AAAA\n")
    with pytest.raises(KeyFileError, match="32 bytes"):
        load_public_key(bad)
    with pytest.raises(KeyFileError, match="cannot read"):
        load_private_key(tmp_path / "missing.key")


def test_trust_store_directory_with_revocations(tmp_path: Path) -> None:
    one, two = generate_key(), generate_key()
    save_public_key(one.public_key(), tmp_path / "one.pub")
    save_public_key(two.public_key(), tmp_path / "two.pub", "raw")
    (tmp_path / "revoked").write_text(f"# leaked 2024-05\n{key_id(one)}\n")
    store = TrustStore.load(tmp_path)
    assert store.key_ids == sorted([key_id(one), key_id(two)])
    with pytest.raises(RevokedKey):
        store.key(key_id(one))
    store.verify(key_id(two), two.sign(b"data"), b"data")
    with pytest.raises(BadSignature):
        store.verify(key_id(two), two.sign(b"data"), b"other")
    with pytest.raises(UntrustedKey):
        store.key("0123456789abcdef")
