"""Release artifacts: manifest, Ed25519 keys and trust, build/sign/verify, storage.

The cloud (release metadata, rollouts) and the device's update agent both build on this
package; it knows nothing about either.
"""

from lightbox.release.artifact import build, read_manifest, sha256_file, sign, verify
from lightbox.release.errors import ReleaseError, VerificationError
from lightbox.release.keys import TrustStore, generate_key, key_id
from lightbox.release.manifest import FileEntry, Manifest

__all__ = [
    "FileEntry",
    "Manifest",
    "ReleaseError",
    "TrustStore",
    "VerificationError",
    "build",
    "generate_key",
    "key_id",
    "read_manifest",
    "sha256_file",
    "sign",
    "verify",
]
