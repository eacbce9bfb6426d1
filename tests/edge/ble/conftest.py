"""A private D-Bus daemon with bluezoo (a BlueZ mock) on it, fresh for each test.

Never the system bus: the daemon runs from a generated config in the test's tmp dir, and
``DBUS_SYSTEM_BUS_ADDRESS`` points bleak (and anything else) at it. Tests that need it skip
with the reason when dbus-daemon or bluezoo is missing, and fail instead when ``CI`` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest
from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from tests.private_dbus import DBUS_DAEMON, dbus_daemon_missing, skip_or_fail, write_bus_config

SERVER_ADAPTER = ("hci0", "00:00:00:11:11:11")
CLIENT_ADAPTER = ("hci1", "00:00:00:22:22:22")


def _missing() -> str | None:
    missing = dbus_daemon_missing()
    if missing:
        return missing
    if importlib.util.find_spec("bluezoo") is None:
        return "bluezoo is not installed (pip install bluezoo)"
    if importlib.util.find_spec("bleak") is None:
        return "bleak is not installed (pip install bleak)"
    return None


def require_private_bus() -> None:
    reason = _missing()
    if reason is not None:
        skip_or_fail(reason)


@dataclass(frozen=True)
class PrivateBus:
    address: str
    log: Path


def _open_log(path: Path) -> IO[bytes]:
    return path.open("wb")


async def _wait_for_adapters(address: str, deadline: float) -> None:
    bus = await MessageBus(bus_address=address).connect()
    try:
        loop = asyncio.get_running_loop()
        while True:
            reply = await bus.call(
                Message(
                    destination="org.bluez",
                    path="/",
                    interface="org.freedesktop.DBus.ObjectManager",
                    member="GetManagedObjects",
                )
            )
            if reply is not None and reply.message_type is MessageType.METHOD_RETURN:
                objects = reply.body[0]
                ready = [
                    objects.get(f"/org/bluez/{name}", {}).get("org.bluez.Adapter1", {})
                    for name, _ in (SERVER_ADAPTER, CLIENT_ADAPTER)
                ]
                if all(a and a["Powered"].value for a in ready):
                    return
            if loop.time() > deadline:
                raise TimeoutError("bluezoo did not bring its adapters up")
            await asyncio.sleep(0.05)
    finally:
        bus.disconnect()
        await bus.wait_for_disconnect()  # type: ignore[no-untyped-call]


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 5)
        except TimeoutError:
            proc.kill()
            await proc.wait()


@pytest.fixture
async def private_bus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[PrivateBus]:
    """dbus-daemon + bluezoo with two LE adapters (hci0: the LightBox, hci1: the phone)."""
    require_private_bus()
    socket = tmp_path / "bus.sock"
    config = write_bus_config(tmp_path)
    daemon = await asyncio.create_subprocess_exec(
        DBUS_DAEMON,
        f"--config-file={config}",
        "--print-address",
        "--nofork",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    bluezoo: asyncio.subprocess.Process | None = None
    log = tmp_path / "bluezoo.log"
    try:
        assert daemon.stdout is not None
        line = await asyncio.wait_for(daemon.stdout.readline(), 5)
        address = line.decode().strip()
        assert address.startswith("unix:"), address
        env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": address}
        env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        with _open_log(log) as out:
            bluezoo = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                "from bluezoo.bluezoo import main; main()",
                "--auto-enable",
                "--scan-interval=1",
                "--verbose",
                f"--adapter={SERVER_ADAPTER[1]}",
                f"--adapter={CLIENT_ADAPTER[1]}",
                env=env,
                stdout=out,
                stderr=out,
            )
        await _wait_for_adapters(address, asyncio.get_running_loop().time() + 10)
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", address)
        yield PrivateBus(address=address, log=log)
    finally:
        if bluezoo is not None:
            await _stop(bluezoo)
        await _stop(daemon)
        with contextlib.suppress(FileNotFoundError):
            socket.unlink()
