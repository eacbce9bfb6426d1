"""What the broker side plugs into the cloud service.

:class:`CloudServices` has two slots, ``broker_admin`` and ``relay``; the implementations
for a real cloud broker live in :mod:`lightbox.cloud.broker` and :mod:`lightbox.cloud.relay`,
and :mod:`lightbox.cloud.memory` has in-memory ones for tests and a single dev instance.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from lightbox.protocol import Command, CommandResult


@runtime_checkable
class BrokerAdmin(Protocol):
    """Provisions per-device broker credentials (e.g. Mosquitto dynamic security)."""

    async def create_device(self, device_id: str) -> tuple[str, str]:
        """``(username, password)`` of a broker client allowed ``lightbox/<device_id>/#`` only.

        Idempotent: for a device that already has a client, the same username comes back
        with a new password (the old one stops working) and a disabled client is enabled
        again. The cloud calls it on first registration and on every re-registration.
        """
        ...

    async def revoke_device(self, device_id: str) -> None:
        """Disable the device's client and drop its connection; no-op if it has none."""
        ...


@runtime_checkable
class Relay(Protocol):
    """Sends a command to a device through the broker and waits for its result.

    Works whichever instance holds the request and whichever receives the device's reply.
    """

    async def send(self, device_id: str, command: Command, timeout: float) -> CommandResult:  # noqa: ASYNC109
        """The device's :class:`CommandResult` (``ok`` or not).

        Raises :class:`~lightbox.cloud.errors.DeviceOffline` when the device is not
        connected and :class:`~lightbox.cloud.errors.RelayTimeout` when no result came
        within ``timeout`` seconds.
        """
        ...
