"""The Wi-Fi interface that provisioning (Improv over BLE) and the API use.

Exceptions::

    WifiError                 anything the backend cannot do (no adapter, D-Bus gone...)
     └── WifiConnectError     the network refused us: wrong password, not found, timeout
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class WifiError(Exception):
    """The Wi-Fi backend failed; the message says what to check."""


class WifiConnectError(WifiError):
    """Could not join the network (wrong password, SSID not found, no DHCP lease...)."""


@dataclass(frozen=True, slots=True)
class AccessPoint:
    ssid: str
    rssi: int  # dBm
    secured: bool


@dataclass(frozen=True, slots=True)
class WifiStatus:
    connected: bool
    ssid: str | None = None
    ipv4: str | None = None


class WifiBackend(Protocol):
    async def scan(self) -> list[AccessPoint]:
        """Networks in range, strongest first, one entry per SSID."""

    async def connect(
        self,
        ssid: str,
        password: str,
        timeout: float = 30.0,  # noqa: ASYNC109 (a D-Bus wait bounded by the backend)
    ) -> WifiStatus:
        """Join ``ssid`` (saving the profile); raise WifiConnectError when it fails."""

    async def status(self) -> WifiStatus:
        """The current connection."""

    async def set_hostname(self, hostname: str) -> None:
        """Set the system host name (validated by the caller: RFC 1123 label)."""
