"""Errors of the cloud service.

Every error a user or a device can cause is a :class:`~lightbox.protocol.LightBoxError`
with a stable protocol code, so the API turns it into a problem detail on its own::

    LightBoxError (lightbox.protocol)
     └── CloudError
          ├── Unauthorized        unauthorized (401): no, bad, expired or revoked token
          ├── Forbidden           forbidden (403): a device's wrong registration secret
          ├── DeviceNotFound      not_found (404): unknown, or someone else's device
          ├── AlreadyExists       conflict (409): e.g. the e-mail has an account
          ├── RateLimited         rate_limited (429) with retry_after (Retry-After header)
          ├── InvalidRequest      invalid_command (422) naming the field
          └── RelayError          raised by a Relay
               ├── DeviceOffline  offline (503): the device is not connected
               └── RelayTimeout   timeout (504): no answer in time

Infrastructure failures (the database or Redis down) are not CloudErrors: they end as
500 ``internal`` and are logged.
"""

from __future__ import annotations

import math

from lightbox.protocol import ErrorCode, LightBoxError


class CloudError(LightBoxError):
    """Base of the cloud's errors."""


class Unauthorized(CloudError):
    code: ErrorCode = "unauthorized"


class Forbidden(CloudError):
    code: ErrorCode = "forbidden"


class DeviceNotFound(CloudError):
    code: ErrorCode = "not_found"

    def __init__(self, device_id: str) -> None:
        super().__init__(
            f"you have no device {device_id[:70]!r}; GET /api/v1/devices lists yours",
            field="device_id",
        )


class AlreadyExists(CloudError):
    code: ErrorCode = "conflict"


class InvalidRequest(CloudError):
    code: ErrorCode = "invalid_command"


class RateLimited(CloudError):
    code: ErrorCode = "rate_limited"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    @property
    def retry_after_s(self) -> int:
        """Whole seconds for the ``Retry-After`` header (at least 1)."""
        return max(1, math.ceil(self.retry_after))


class RelayError(CloudError):
    """A command could not be relayed to a device."""


class DeviceOffline(RelayError):
    code: ErrorCode = "offline"

    def __init__(self, device_id: str, message: str | None = None) -> None:
        super().__init__(
            message
            or f"device {device_id!r} is not connected to the cloud; check its power and "
            "network, or reach it on its LAN"
        )
        self.device_id = device_id


class RelayTimeout(RelayError):
    code: ErrorCode = "timeout"

    def __init__(self, device_id: str, timeout: float) -> None:
        super().__init__(
            f"device {device_id!r} did not answer within {timeout:g} s; it may be busy or "
            "its connection poor; try again"
        )
        self.device_id = device_id
        self.timeout = timeout
