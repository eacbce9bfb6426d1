"""The release manifest: what an artifact holds and who may install it.

The manifest is signed as its *canonical bytes* (:meth:`Manifest.canonical_bytes`): JSON
with sorted keys, no spaces, UTF-8. ``manifest.json`` inside an artifact holds exactly those
bytes, and ``manifest.sig`` the 64-byte Ed25519 signature over them.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Annotated, Literal

from packaging.version import InvalidVersion, Version
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.sig"
WHEELS_DIR = "wheels"
MAX_MANIFEST_BYTES = 1 << 20

_HARDWARE = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
_FILE_NAME = re.compile(r"^wheels/[A-Za-z0-9][A-Za-z0-9_.+!-]{0,200}\.whl$")

HardwareId = Annotated[str, Field(pattern=_HARDWARE, description="e.g. rpi-arm64")]


def parse_version(value: str) -> Version:
    """A PEP 440 version, or ValueError naming the bad value."""
    try:
        return Version(value)
    except InvalidVersion as err:
        raise ValueError(f"{value!r} is not a PEP 440 version") from err


class FileEntry(BaseModel):
    """One file of the artifact, by content."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)


class Manifest(BaseModel):
    """What a release artifact holds; signed, so every field is trusted after verify."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal[1] = 1
    package: str = Field(
        default="lightbox",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="The distribution the installer installs from wheels/.",
    )
    version: str = Field(description="PEP 440 version of the package.")
    channel: str = Field(pattern=r"^[a-z][a-z0-9-]{0,31}$", description="stable, beta...")
    hardware: list[HardwareId] = Field(min_length=1, description="Compatible hardware ids.")
    size: int = Field(ge=0, description="Sum of the files' sizes.")
    files: dict[str, FileEntry] = Field(min_length=1)
    min_from_version: str | None = Field(
        default=None, description="Devices older than this must update through it first."
    )
    created_at: datetime
    key_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{16}$")

    @field_validator("version", "min_from_version")
    @classmethod
    def _pep440(cls, value: str | None) -> str | None:
        if value is not None:
            parse_version(value)
        return value

    @field_validator("created_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("created_at needs a time zone")
        return value.astimezone(UTC)

    @field_validator("files")
    @classmethod
    def _names(cls, value: dict[str, FileEntry]) -> dict[str, FileEntry]:
        for name in value:
            if not _FILE_NAME.match(name) or ".." in name:
                raise ValueError(f"file name {name!r} must be wheels/<name>.whl")
        return value

    @model_validator(mode="after")
    def _total(self) -> Manifest:
        total = sum(entry.size for entry in self.files.values())
        if total != self.size:
            raise ValueError(f"size {self.size} is not the sum of the files' sizes ({total})")
        return self

    @property
    def parsed_version(self) -> Version:
        return Version(self.version)

    def canonical_bytes(self) -> bytes:
        """The exact bytes that are signed and stored as ``manifest.json``."""
        data = self.model_dump(mode="json")
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Manifest:
        return cls.model_validate_json(raw)


__all__ = [
    "MANIFEST_NAME",
    "MAX_MANIFEST_BYTES",
    "SIGNATURE_NAME",
    "WHEELS_DIR",
    "FileEntry",
    "HardwareId",
    "Manifest",
    "parse_version",
]
