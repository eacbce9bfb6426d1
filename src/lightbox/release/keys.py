"""Ed25519 release keys: generate, save, load, and the device's trust store.

Key files are PEM (PKCS#8 private, SubjectPublicKeyInfo public) or one line of base64 of
the 32 raw key bytes; loading accepts either. A key id is the first 16 hex digits of the
SHA-256 of the raw public key, so it names a key without revealing anything.

A :class:`TrustStore` holds several public keys at once, so a new signing key can be rolled
out before the old one is retired, and a set of revoked key ids: a revoked key is refused
even when its public key is still present.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from lightbox.release.errors import BadSignature, KeyFileError, RevokedKey, UntrustedKey

KeyFormat = Literal["pem", "raw"]
PUBLIC_SUFFIXES = (".pub", ".pem")
REVOKED_FILE = "revoked"


def generate_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """Short, stable name of a key: 16 hex digits of sha256(raw public key)."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return hashlib.sha256(public_bytes(public)).hexdigest()[:16]


def private_key_bytes(key: Ed25519PrivateKey, fmt: KeyFormat = "pem") -> bytes:
    if fmt == "raw":
        raw = key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return base64.b64encode(raw) + b"\n"
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_key_bytes(key: Ed25519PublicKey, fmt: KeyFormat = "pem") -> bytes:
    if fmt == "raw":
        return base64.b64encode(public_bytes(key)) + b"\n"
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def save_private_key(key: Ed25519PrivateKey, path: Path, fmt: KeyFormat = "pem") -> None:
    """Write a new private key file readable by its owner only; never overwrites."""
    try:
        _write(path, private_key_bytes(key, fmt), 0o600)
    except FileExistsError as err:
        raise KeyFileError(f"{path} exists; choose another name or remove it") from err


def save_public_key(key: Ed25519PublicKey, path: Path, fmt: KeyFormat = "pem") -> None:
    try:
        _write(path, public_key_bytes(key, fmt), 0o644)
    except FileExistsError as err:
        raise KeyFileError(f"{path} exists; choose another name or remove it") from err


def _raw(data: bytes, what: str) -> bytes:
    try:
        raw = base64.b64decode(data.strip(), validate=True)
    except binascii.Error as err:
        raise KeyFileError(f"{what}: neither PEM nor base64") from err
    if len(raw) != 32:
        raise KeyFileError(f"{what}: a raw Ed25519 key is 32 bytes, got {len(raw)}")
    return raw


def parse_private_key(data: bytes, what: str = "private key") -> Ed25519PrivateKey:
    if data.lstrip().startswith(b"-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as err:
            raise KeyFileError(f"{what}: not a readable PEM private key ({err})") from err
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyFileError(f"{what}: not an Ed25519 key")
        return key
    return Ed25519PrivateKey.from_private_bytes(_raw(data, what))


def parse_public_key(data: bytes, what: str = "public key") -> Ed25519PublicKey:
    if data.lstrip().startswith(b"-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(data)
        except (ValueError, UnsupportedAlgorithm) as err:
            raise KeyFileError(f"{what}: not a readable PEM public key ({err})") from err
        if not isinstance(key, Ed25519PublicKey):
            raise KeyFileError(f"{what}: not an Ed25519 key")
        return key
    return Ed25519PublicKey.from_public_bytes(_raw(data, what))


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise KeyFileError(f"cannot read key file {path}: {err.strerror}") from err


def load_private_key(path: Path) -> Ed25519PrivateKey:
    return parse_private_key(_read(path), str(path))


def load_public_key(path: Path) -> Ed25519PublicKey:
    return parse_public_key(_read(path), str(path))


class TrustStore:
    """The public keys a device accepts releases from, and the key ids it refuses."""

    def __init__(self, keys: Iterable[Ed25519PublicKey] = (), revoked: Iterable[str] = ()) -> None:
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._revoked: set[str] = set()
        for key in keys:
            self.add(key)
        for kid in revoked:
            self.revoke(kid)

    def add(self, key: Ed25519PublicKey) -> str:
        kid = key_id(key)
        self._keys[kid] = key
        return kid

    def revoke(self, kid: str) -> None:
        self._revoked.add(kid.strip().lower())

    @property
    def key_ids(self) -> list[str]:
        return sorted(self._keys)

    @property
    def revoked(self) -> list[str]:
        return sorted(self._revoked)

    def key(self, kid: str) -> Ed25519PublicKey:
        """The trusted key of that id; RevokedKey or UntrustedKey otherwise."""
        if kid in self._revoked:
            raise RevokedKey(f"signing key {kid} is revoked; publish the release re-signed")
        try:
            return self._keys[kid]
        except KeyError:
            raise UntrustedKey(
                f"signing key {kid} is not trusted by this device (trusted: "
                f"{', '.join(self.key_ids) or 'none'})"
            ) from None

    def verify(self, kid: str, signature: bytes, data: bytes) -> None:
        key = self.key(kid)
        try:
            key.verify(signature, data)
        except InvalidSignature as err:
            raise BadSignature(f"the manifest signature does not match key {kid}") from err

    @classmethod
    def load(cls, directory: Path) -> TrustStore:
        """Every ``*.pub``/``*.pem`` in the directory, and key ids (one a line) in ``revoked``."""
        store = cls()
        if not directory.is_dir():
            raise KeyFileError(f"trust directory {directory} does not exist")
        for path in sorted(directory.iterdir()):
            if path.suffix in PUBLIC_SUFFIXES:
                store.add(load_public_key(path))
        revoked = directory / REVOKED_FILE
        if revoked.exists():
            for line in _read(revoked).decode().splitlines():
                line = line.split("#", 1)[0].strip()
                if line:
                    store.revoke(line)
        return store


__all__ = [
    "KeyFormat",
    "TrustStore",
    "generate_key",
    "key_id",
    "load_private_key",
    "load_public_key",
    "parse_private_key",
    "parse_public_key",
    "private_key_bytes",
    "public_key_bytes",
    "save_private_key",
    "save_public_key",
]
