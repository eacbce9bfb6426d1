"""Fakes for the BLE provisioning tests: Wi-Fi backend, button, listener, matrix."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from lightbox.edge.ble.improv import ErrorCode, State
from lightbox.edge.wifi.base import AccessPoint, WifiConnectError, WifiError, WifiStatus

PASSWORD = "correct horse"


class FakeWifi:
    """Joins ``home`` with :data:`PASSWORD`; anything else fails like NetworkManager would."""

    def __init__(self, *, connected: bool = False, ipv4: str = "192.168.1.50") -> None:
        self.networks = [
            AccessPoint("home", -41, True),
            AccessPoint("cafe", -67, False),
        ]
        self.ipv4 = ipv4
        self._status = WifiStatus(True, "home", ipv4) if connected else WifiStatus(False)
        self.hostname = "lightbox"
        self.connects: list[tuple[str, str]] = []
        self.broken = False
        self.connect_gate: asyncio.Event | None = None

    async def scan(self) -> list[AccessPoint]:
        if self.broken:
            raise WifiError("no Wi-Fi adapter")
        return list(self.networks)

    async def connect(
        self,
        ssid: str,
        password: str,
        timeout: float = 30.0,  # noqa: ASYNC109 - the WifiBackend signature
    ) -> WifiStatus:
        self.connects.append((ssid, password))
        if self.connect_gate is not None:
            await self.connect_gate.wait()
        if self.broken:
            raise WifiError("NetworkManager is not running")
        if ssid != "home":
            raise WifiConnectError(f"no network {ssid!r} in range")
        if password != PASSWORD:
            raise WifiConnectError("wrong password")
        self._status = WifiStatus(True, ssid, self.ipv4)
        return self._status

    async def status(self) -> WifiStatus:
        return self._status

    async def set_hostname(self, hostname: str) -> None:
        if hostname == "refused":
            raise WifiError("hostnamed refused it")
        self.hostname = hostname


class FakeButton:
    """A button pressed by the test."""

    def __init__(self) -> None:
        self._presses: asyncio.Queue[None] = asyncio.Queue()
        self.closed = False

    def press(self) -> None:
        self._presses.put_nowait(None)

    async def wait_pressed(self) -> None:
        await self._presses.get()

    def close(self) -> None:
        self.closed = True


@dataclass
class Recorder:
    """A ProvisionerListener that keeps everything, plus the matrix side (identify, codes)."""

    states: list[State] = field(default_factory=list)
    errors: list[ErrorCode] = field(default_factory=list)
    results: list[bytes] = field(default_factory=list)
    shown: list[str | None] = field(default_factory=list)
    identified: int = 0
    names: list[str] = field(default_factory=lambda: ["LightBox Kitchen"])

    def state_changed(self, state: State) -> None:
        self.states.append(state)

    def error_changed(self, error: ErrorCode) -> None:
        self.errors.append(error)

    def result_ready(self, packet: bytes) -> None:
        self.results.append(packet)

    async def identify(self) -> None:
        self.identified += 1

    async def show_code(self, code: str | None) -> None:
        self.shown.append(code)

    def device_name(self) -> str:
        return self.names[-1]

    async def set_device_name(self, name: str) -> None:
        self.names.append(name)

    @property
    def code(self) -> str | None:
        return self.shown[-1] if self.shown else None
