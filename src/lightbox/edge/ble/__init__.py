"""Bluetooth LE provisioning: Improv Wi-Fi on BlueZ (see docs/provisioning.md).

``improv`` is the wire format (pure), ``provisioner`` the state machine, ``gatt`` the BlueZ
GATT server and advertisement over D-Bus, ``button`` the optional GPIO button.
:class:`BleProvisioning` puts them together for the service runtime.

Exceptions::

    BleError      BlueZ missing, no such adapter, a registration refused (gatt)
    ButtonError   the GPIO button cannot be used (button)
    ImprovError   a refused packet, carrying its Improv error code (improv; never escapes
                  the provisioner: it goes to the error characteristic)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import platform
from collections.abc import Awaitable, Callable
from pathlib import Path

from lightbox.edge.ble.button import Button, ButtonError, GpioButton
from lightbox.edge.ble.gatt import AUTH_CHAR_UUID, AUTH_SERVICE_UUID, BleError, GattServer
from lightbox.edge.ble.improv import Capability, ErrorCode, ImprovError, State
from lightbox.edge.ble.provisioner import DeviceInfo, Provisioner, ProvisionerListener
from lightbox.edge.wifi.base import WifiBackend

__all__ = [
    "AUTH_CHAR_UUID",
    "AUTH_SERVICE_UUID",
    "BleError",
    "BleProvisioning",
    "Button",
    "ButtonError",
    "Capability",
    "DeviceInfo",
    "ErrorCode",
    "GattServer",
    "GpioButton",
    "ImprovError",
    "Provisioner",
    "ProvisionerListener",
    "State",
    "hardware_description",
]

log = logging.getLogger(__name__)


def hardware_description() -> str:
    """E.g. ``Raspberry Pi 4 Model B Rev 1.4/aarch64`` (the board model where Linux has it)."""
    machine = platform.machine() or "unknown"
    try:
        model = Path("/proc/device-tree/model").read_bytes().rstrip(b"\x00").decode()
    except (OSError, UnicodeDecodeError):
        return machine
    return f"{model}/{machine}" if model else machine


class BleProvisioning:
    """Improv over BLE for one LightBox: ``await start()``, ``await stop()``."""

    def __init__(
        self,
        *,
        wifi: WifiBackend,
        pairing_code: Callable[[], str],
        version: str,
        device_name: Callable[[], str],
        set_device_name: Callable[[str], Awaitable[None]],
        identify: Callable[[], Awaitable[None]],
        show_code: Callable[[str | None], Awaitable[None]] | None = None,
        adapter: str = "hci0",
        gpio_button: str | None = None,
        button: Button | None = None,
        http_port: int = 80,
        require_authorization: bool = True,
        authorization_timeout: float = 300.0,
        bus_address: str | None = None,
        hardware: str | None = None,
    ) -> None:
        self.provisioner = Provisioner(
            wifi=wifi,
            pairing_code=pairing_code,
            device=DeviceInfo(version=version, hardware=hardware or hardware_description()),
            device_name=device_name,
            set_device_name=set_device_name,
            identify=identify,
            show_code=show_code,
            http_port=http_port,
            require_authorization=require_authorization,
            authorization_timeout=authorization_timeout,
        )
        self.server = GattServer(
            self.provisioner, adapter=adapter, name=device_name(), bus_address=bus_address
        )
        self.button: Button | None = button or (GpioButton(gpio_button) if gpio_button else None)
        self._button_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Raises BleError when BlueZ or the adapter is missing (nothing left running)."""
        await self.provisioner.start()
        try:
            await self.server.start()
        except BaseException:
            await self.provisioner.stop()
            raise
        if self.button is not None:
            self._button_task = asyncio.create_task(self._watch_button(), name="improv-button")

    async def stop(self) -> None:
        if self._button_task is not None:
            self._button_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._button_task
            self._button_task = None
        if self.button is not None:
            self.button.close()
        await self.server.stop()
        await self.provisioner.stop()

    async def _watch_button(self) -> None:
        assert self.button is not None
        while True:
            try:
                await self.button.wait_pressed()
            except ButtonError as err:
                log.error("authorization button unusable, codes only: %s", err)
                return
            self.provisioner.authorize("button")
