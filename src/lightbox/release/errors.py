"""Errors of releases: building, signing, verifying and storing artifacts.

Every refusal carries a stable ``reason`` that the update agent reports to the cloud::

    ReleaseError                     reason
     ├── KeyFileError                key_file: a key file that cannot be read or parsed
     ├── BuildError                  build: the wheels or options for an artifact are wrong
     ├── VerificationError           (an artifact refused; nothing was installed)
     │    ├── ArtifactCorrupt        corrupt: not our tar layout, bad header, stray bytes
     │    │    └── ArtifactTruncated truncated: the file ends early
     │    ├── UnsignedArtifact       unsigned: no manifest.sig
     │    ├── UntrustedKey           untrusted_key: signed by a key not in the trust store
     │    ├── RevokedKey             revoked_key: signed by a revoked key
     │    ├── BadSignature           bad_signature: the signature does not match
     │    ├── DigestMismatch         digest_mismatch: a file's sha256 or size differs
     │    ├── Downgrade              downgrade: version <= the running version
     │    ├── WrongHardware          wrong_hardware: not built for this device
     │    └── UpdatePathRefused      min_from_version: too old to update to it directly
     └── StorageError                storage: the release storage failed
          └── ObjectNotFound         not_found: no object under that key

Third-party errors (cryptography, boto3, pydantic) are translated here with ``from``.
"""

from __future__ import annotations


class ReleaseError(Exception):
    """Base of every release error; ``reason`` is stable, ``message`` says what to do."""

    reason: str = "release"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class KeyFileError(ReleaseError):
    reason = "key_file"


class BuildError(ReleaseError):
    reason = "build"


class VerificationError(ReleaseError):
    reason = "verification"


class ArtifactCorrupt(VerificationError):
    reason = "corrupt"


class ArtifactTruncated(ArtifactCorrupt):
    reason = "truncated"


class UnsignedArtifact(VerificationError):
    reason = "unsigned"


class UntrustedKey(VerificationError):
    reason = "untrusted_key"


class RevokedKey(VerificationError):
    reason = "revoked_key"


class BadSignature(VerificationError):
    reason = "bad_signature"


class DigestMismatch(VerificationError):
    reason = "digest_mismatch"


class Downgrade(VerificationError):
    reason = "downgrade"


class WrongHardware(VerificationError):
    reason = "wrong_hardware"


class UpdatePathRefused(VerificationError):
    reason = "min_from_version"


class StorageError(ReleaseError):
    reason = "storage"


class ObjectNotFound(StorageError):
    reason = "not_found"


__all__ = [
    "ArtifactCorrupt",
    "ArtifactTruncated",
    "BadSignature",
    "BuildError",
    "DigestMismatch",
    "Downgrade",
    "KeyFileError",
    "ObjectNotFound",
    "ReleaseError",
    "RevokedKey",
    "StorageError",
    "UnsignedArtifact",
    "UntrustedKey",
    "UpdatePathRefused",
    "VerificationError",
    "WrongHardware",
]
