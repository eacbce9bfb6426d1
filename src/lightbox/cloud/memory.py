"""In-memory :class:`BrokerAdmin` and :class:`Relay`: for tests and a single dev instance.

Nothing here talks to a broker: :class:`MemoryBrokerAdmin` only remembers the credentials it
handed out, and :class:`MemoryRelay` calls a handler that a test (or the dev demo) connects
for a device id; a device with no handler is offline.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from lightbox.cloud.errors import DeviceOffline, RelayTimeout
from lightbox.protocol import Command, CommandResult

Handler = Callable[[Command], Awaitable[CommandResult]]


@dataclass
class Client:
    username: str
    password: str
    enabled: bool = True


class MemoryBrokerAdmin:
    """Remembers one broker client per device, as a dynamic-security plugin would."""

    def __init__(self) -> None:
        self.clients: dict[str, Client] = {}

    async def create_device(self, device_id: str) -> tuple[str, str]:
        password = secrets.token_urlsafe(24)
        client = self.clients.get(device_id)
        if client is None:
            client = self.clients[device_id] = Client(f"dev-{device_id}", password)
        client.password = password
        client.enabled = True
        return client.username, client.password

    async def revoke_device(self, device_id: str) -> None:
        client = self.clients.get(device_id)
        if client is not None:
            client.enabled = False

    def check(self, username: str, password: str) -> bool:
        """Would the broker let this client in?"""
        return any(
            c.enabled and c.username == username and secrets.compare_digest(c.password, password)
            for c in self.clients.values()
        )


class MemoryRelay:
    """Relays to in-process handlers: ``connect(device_id, handler)`` brings a device online."""

    def __init__(self) -> None:
        self.handlers: dict[str, Handler] = {}
        self.sent: list[tuple[str, Command]] = []

    def connect(self, device_id: str, handler: Handler) -> None:
        self.handlers[device_id] = handler

    def disconnect(self, device_id: str) -> None:
        self.handlers.pop(device_id, None)

    async def send(self, device_id: str, command: Command, timeout: float) -> CommandResult:  # noqa: ASYNC109
        handler = self.handlers.get(device_id)
        if handler is None:
            raise DeviceOffline(device_id)
        self.sent.append((device_id, command))
        try:
            async with asyncio.timeout(timeout):
                return await handler(command)
        except TimeoutError as err:
            raise RelayTimeout(device_id, timeout) from err
