"""Artifacts: build, sign and verify; every kind of bad artifact is refused, specifically."""

from __future__ import annotations

import random
import tarfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lightbox.release import _tar
from lightbox.release.artifact import build, read_manifest, sign, verify
from lightbox.release.errors import (
    ArtifactCorrupt,
    ArtifactTruncated,
    BadSignature,
    BuildError,
    DigestMismatch,
    Downgrade,
    RevokedKey,
    UnsignedArtifact,
    UntrustedKey,
    UpdatePathRefused,
    VerificationError,
    WrongHardware,
)
from lightbox.release.keys import TrustStore, generate_key, key_id
from lightbox.release.manifest import Manifest


def make(
    tmp_path: Path,
    wheels: list[Path],
    key: Ed25519PrivateKey | None,
    name: str = "a.lbx",
    **options: object,
) -> Path:
    out = tmp_path / name
    kwargs: dict[str, object] = {"channel": "stable", "hardware": ["linux-x86_64", "rpi-arm64"]}
    kwargs.update(options)
    build(wheels, out, signing_key=key, **kwargs)  # type: ignore[arg-type]
    return out


def test_sign_verify_round_trip(
    tmp_path: Path, wheels: list[Path], key: Ed25519PrivateKey, trust: TrustStore
) -> None:
    artifact = make(tmp_path, wheels, key, min_from_version="1.0.0")
    staging = tmp_path / "staging"
    manifest = verify(
        artifact,
        trust,
        current_version="1.1.0",
        hardware="rpi-arm64",
        extract_to=staging,
    )
    assert manifest.version == "1.2.0"
    assert manifest.key_id == key_id(key)
    assert set(manifest.files) == {f"wheels/{w.name}" for w in wheels}
    assert manifest.size == sum(w.stat().st_size for w in wheels)
    for wheel in wheels:
        assert (staging / wheel.name).read_bytes() == wheel.read_bytes()
    # any tar tool reads it
    with tarfile.open(artifact) as tar:
        assert tar.getnames()[:2] == ["manifest.json", "manifest.sig"]
    # the stored manifest is exactly the canonical bytes that were signed
    assert read_manifest(artifact).canonical_bytes() == manifest.canonical_bytes()


def test_build_then_sign_in_a_second_step(
    tmp_path: Path, wheels: list[Path], key: Ed25519PrivateKey, trust: TrustStore
) -> None:
    unsigned = make(tmp_path, wheels, None)
    with pytest.raises(UnsignedArtifact):
        verify(unsigned, trust)
    signed = tmp_path / "signed.lbx"
    sign(unsigned, key, signed)
    assert verify(signed, trust).key_id == key_id(key)


def test_unsigned_wrong_key_and_revoked_key_are_refused(
    tmp_path: Path, wheels: list[Path], key: Ed25519PrivateKey, trust: TrustStore
) -> None:
    with pytest.raises(UnsignedArtifact):
        verify(make(tmp_path, wheels, None, "u.lbx"), trust)
    stranger = generate_key()
    with pytest.raises(UntrustedKey, match=key_id(stranger)):
        verify(make(tmp_path, wheels, stranger, "w.lbx"), trust)
    good = make(tmp_path, wheels, key, "g.lbx")
    trust.revoke(key_id(key))
    with pytest.raises(RevokedKey):
        verify(good, trust)


def test_a_signature_from_another_key_with_the_trusted_key_id_is_refused(
    tmp_path: Path, wheels: list[Path], key: Ed25519PrivateKey, trust: TrustStore
) -> None:
    artifact = make(tmp_path, wheels, key)
    forged = bytearray(artifact.read_bytes())
    # replace the signature (second member's data) with another key's over the same bytes
    manifest = read_manifest(artifact)
    other = generate_key().sign(manifest.canonical_bytes())
    start = _tar.BLOCK + len(manifest.canonical_bytes()) + (-len(manifest.canonical_bytes()) % 512)
    forged[start + _tar.BLOCK : start + _tar.BLOCK + 64] = other
    artifact.write_bytes(bytes(forged))
    with pytest.raises(BadSignature):
        verify(artifact, trust)


def test_key_rotation_two_trusted_keys_either_works_and_revoking_one_refuses_it(
    tmp_path: Path, wheels: list[Path]
) -> None:
    old, new = generate_key(), generate_key()
    trust = TrustStore([old.public_key(), new.public_key()])
    by_old = make(tmp_path, wheels, old, "old.lbx")
    by_new = make(tmp_path, wheels, new, "new.lbx")
    assert verify(by_old, trust).key_id == key_id(old)
    assert verify(by_new, trust).key_id == key_id(new)
    trust.revoke(key_id(old))
    with pytest.raises(RevokedKey):
        verify(by_old, trust)
    assert verify(by_new, trust).key_id == key_id(new)
    # a revoked key stays refused even when its public key is (re-)added
    trust.add(old.public_key())
    with pytest.raises(RevokedKey):
        verify(by_old, trust)


def test_downgrade_wrong_hardware_and_update_path_are_refused(
    tmp_path: Path, wheels: list[Path], key: Ed25519PrivateKey, trust: TrustStore
) -> None:
    artifact = make(tmp_path, wheels, key, min_from_version="1.1.0")
    with pytest.raises(Downgrade):
        verify(artifact, trust, current_version="1.2.0")
    with pytest.raises(Downgrade):
        verify(artifact, trust, current_version="2.0.0")
    assert verify(artifact, trust, current_version="2.0.0", allow_downgrade=True)
    with pytest.raises(WrongHardware):
        verify(artifact, trust, hardware="esp32")
    with pytest.raises(UpdatePathRefused):
        verify(artifact, trust, current_version="1.0.5")
    assert verify(artifact, trust, current_version="1.1.0").version == "1.2.0"


def _flip(data: bytes, offset: int, bit: int) -> bytes:
    out = bytearray(data)
    out[offset] ^= 1 << bit
    return bytes(out)


def _offsets(size: int, rng: random.Random, samples: int) -> list[int]:
    """Both ends of every 512-byte block (headers, data, padding, trailer) plus random ones."""
    edges = {o for b in range(0, size, _tar.BLOCK) for o in (b, b + 1, b + 511) if o < size}
    return sorted(edges | {rng.randrange(size) for _ in range(samples)})


def test_one_bit_flipped_anywhere_is_refused(
    tmp_path: Path, wheels: list[Path], key: Ed25519PrivateKey, trust: TrustStore
) -> None:
    artifact = make(tmp_path, wheels, key)
    original = artifact.read_bytes()
    rng = random.Random()
    staging = tmp_path / "staging"
    bad = tmp_path / "bad.lbx"
    reasons: dict[str, int] = {}
    for offset in _offsets(len(original), rng, 400):
        bit = rng.randrange(8)
        bad.write_bytes(_flip(original, offset, bit))
        try:
            verify(bad, trust, extract_to=staging)
        except VerificationError as err:
            reasons[err.reason] = reasons.get(err.reason, 0) + 1
        else:
            pytest.fail(f"accepted with bit {bit} of byte {offset} flipped")
        assert not any(staging.iterdir()) if staging.exists() else True
    # flips land in headers, the manifest, the signature, wheel data and padding
    assert {"corrupt", "bad_signature", "digest_mismatch"} <= set(reasons), reasons


def test_every_truncation_is_refused(
    tmp_path: Path, wheels: list[Path], key: Ed25519PrivateKey, trust: TrustStore
) -> None:
    artifact = make(tmp_path, wheels, key)
    original = artifact.read_bytes()
    bad = tmp_path / "short.lbx"
    for length in _offsets(len(original), random.Random(), 300):
        bad.write_bytes(original[:length])
        try:
            verify(bad, trust)
        except ArtifactTruncated:
            continue
        pytest.fail(f"accepted when cut to {length} bytes")
    bad.write_bytes(original + b"\0" * 512)
    with pytest.raises(ArtifactCorrupt, match="after the trailer"):
        verify(bad, trust)


def test_a_member_not_in_the_manifest_is_refused(
    tmp_path: Path, wheels: list[Path], key: Ed25519PrivateKey, trust: TrustStore
) -> None:
    artifact = make(tmp_path, wheels, key)
    data = artifact.read_bytes()[: -len(_tar.TRAILER)]
    extra = b"print('hi')\n"
    data += _tar.header("wheels/evil-1.0-py3-none-any.whl", len(extra), 0) + extra
    data += _tar.padding(len(extra)) + _tar.TRAILER
    artifact.write_bytes(data)
    with pytest.raises(ArtifactCorrupt, match="not in the manifest"):
        verify(artifact, trust)


def test_sign_refuses_an_artifact_whose_files_changed(
    tmp_path: Path, wheels: list[Path], key: Ed25519PrivateKey
) -> None:
    unsigned = make(tmp_path, wheels, None)
    data = bytearray(unsigned.read_bytes())
    data[-len(_tar.TRAILER) - 600] ^= 0x01  # inside the last wheel's data
    unsigned.write_bytes(bytes(data))
    with pytest.raises(DigestMismatch):
        sign(unsigned, key, tmp_path / "s.lbx")
    assert not (tmp_path / "s.lbx").exists()


def test_build_checks_its_inputs(tmp_path: Path, wheels: list[Path]) -> None:
    with pytest.raises(BuildError, match="differs"):
        make(tmp_path, wheels, None, version="9.9.9")
    with pytest.raises(BuildError, match="exactly one lightbox wheel"):
        make(tmp_path, wheels[1:], None)
    with pytest.raises(BuildError, match="invalid release options"):
        make(tmp_path, wheels, None, hardware=[])
    with pytest.raises(BuildError, match="invalid release options"):
        make(tmp_path, wheels, None, min_from_version="not a version")


def test_manifest_rejects_unsafe_file_names() -> None:
    base = {
        "version": "1.0",
        "channel": "stable",
        "hardware": ["rpi-arm64"],
        "size": 1,
        "created_at": "2024-01-01T00:00:00Z",
    }
    for name in ("../x.whl", "/etc/passwd", "wheels/../../x.whl", "other/x.whl"):
        with pytest.raises(ValueError, match="wheels/"):
            Manifest.model_validate({**base, "files": {name: {"sha256": "0" * 64, "size": 1}}})
