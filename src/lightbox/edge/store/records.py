"""Records the store keeps that are not wire models: media metadata and API tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["MediaRecord", "TokenInfo"]


def _check_aware(field: str, value: datetime | None) -> None:
    if value is not None and value.utcoffset() is None:
        raise ValueError(f"{field} must be timezone-aware (use datetime.now(UTC)), got {value!r}")


@dataclass(frozen=True)
class MediaRecord:
    """Metadata of one uploaded media file (the bytes live in the media dir)."""

    id: str
    filename: str
    content_type: str
    format: str
    width: int
    height: int
    frames: int
    bytes: int
    sha256: str
    created_at: datetime

    def __post_init__(self) -> None:
        _check_aware("created_at", self.created_at)


@dataclass(frozen=True)
class TokenInfo:
    """An API token as listed: never the token itself, which is shown once at creation."""

    id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None

    def __post_init__(self) -> None:
        _check_aware("created_at", self.created_at)
        _check_aware("last_used_at", self.last_used_at)
