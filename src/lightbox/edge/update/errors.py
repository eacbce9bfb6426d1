"""Errors of the update agent; ``reason`` is what the agent reports::

    UpdateError                    reason
     ├── InvalidTransition         invalid_transition: a bug, the state machine refused a step
     ├── InsufficientSpace         no_space: less free space than size x 2.5
     ├── DownloadError             download: storage unreachable or failing past the retries
     │    ├── DownloadRefused      url_refused: 4xx (an expired or tampered presigned URL)
     │    └── DownloadCorrupt      download_corrupt: the bytes do not match the offer's sha256
     ├── InstallError              install: venv or pip failed in the inactive slot
     └── SlotError                 slot: the slot layout refuses an operation

Verification refusals are :class:`lightbox.release.errors.VerificationError` (their own
reasons: unsigned, revoked_key, downgrade...).
"""

from __future__ import annotations


class UpdateError(Exception):
    reason: str = "update"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidTransition(UpdateError):
    reason = "invalid_transition"


class InsufficientSpace(UpdateError):
    reason = "no_space"


class DownloadError(UpdateError):
    reason = "download"


class DownloadRefused(DownloadError):
    reason = "url_refused"


class DownloadCorrupt(DownloadError):
    reason = "download_corrupt"


class InstallError(UpdateError):
    reason = "install"


class SlotError(UpdateError):
    reason = "slot"
