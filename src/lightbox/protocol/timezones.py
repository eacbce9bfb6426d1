"""IANA time-zone names, validated against the tz database (``tzdata`` on every platform)."""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@lru_cache(maxsize=512)
def _load(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def check_timezone(name: str) -> ZoneInfo:
    """Return the zone or raise ``ValueError`` naming what is allowed."""
    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        raise ValueError(f"time zone {name!r} is not an IANA name such as 'Europe/Berlin'")
    try:
        return _load(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as err:
        raise ValueError(
            f"time zone {name!r} is unknown; use an IANA name such as 'Europe/Berlin' or 'UTC'"
        ) from err
