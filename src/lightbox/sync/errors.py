"""Errors of the sync rules.

::

    SyncError                   every error raised by lightbox.sync
    ├── ClockDriftError         a remote timestamp is too far ahead of the local clock
    ├── WireFormatError         a delta or ack payload cannot be decoded
    └── SyncValidationError     a merged document does not validate as protocol models
"""

from __future__ import annotations


class SyncError(Exception):
    """Base of every error raised by :mod:`lightbox.sync`."""


class ClockDriftError(SyncError):
    """A remote timestamp lies further in the future than the allowed drift.

    The whole delta that carried it must be refused (not applied, not acknowledged):
    accepting it would let that sender's edits win every later edit until real time caught
    up with its clock.
    """

    def __init__(self, remote_wall_ms: int, local_wall_ms: int, max_drift_ms: int) -> None:
        self.remote_wall_ms = remote_wall_ms
        self.local_wall_ms = local_wall_ms
        self.max_drift_ms = max_drift_ms
        ahead_s = (remote_wall_ms - local_wall_ms) / 1000
        super().__init__(
            f"remote timestamp is {ahead_s:.0f} s ahead of the local clock "
            f"(allowed: {max_drift_ms / 1000:.0f} s); the sender's clock is wrong: "
            "fix its time (NTP) before it syncs again"
        )


class WireFormatError(SyncError, ValueError):
    """A delta or ack payload is not valid JSON of the documented shape."""


class SyncValidationError(SyncError, ValueError):
    """A merged document does not make valid protocol models; nothing must be applied.

    ``problems`` maps each offending document key (``"settings.matrix"``,
    ``"presets/evening"``...) to the validation message.
    """

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = dict(problems)
        detail = "; ".join(f"{key}: {msg}" for key, msg in sorted(self.problems.items()))
        super().__init__(f"merged document is not valid: {detail}")

    @property
    def keys(self) -> list[str]:
        return sorted(self.problems)
