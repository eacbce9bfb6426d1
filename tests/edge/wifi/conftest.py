"""A private D-Bus daemon per test (never the system bus) with a fake NetworkManager on it."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from dbus_fast.aio import MessageBus

from tests.edge.wifi.fake_nm import FakeConfig, FakeNetworkManager, Network
from tests.private_dbus import DBUS_DAEMON, dbus_daemon_missing, skip_or_fail, write_bus_config


@pytest.fixture
def bus_address(tmp_path: Path) -> Iterator[str]:
    """The address of a dbus-daemon that this test started and stops."""
    missing = dbus_daemon_missing()
    if missing:
        skip_or_fail(missing)
    config = write_bus_config(tmp_path)
    daemon = subprocess.Popen(
        [DBUS_DAEMON, f"--config-file={config}", "--print-address", "--nofork"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert daemon.stdout is not None
        address = daemon.stdout.readline().strip()
        if not address:
            raise RuntimeError(
                f"dbus-daemon did not start: {daemon.stderr and daemon.stderr.read()}"
            )
        yield address
    finally:
        daemon.terminate()
        try:
            daemon.wait(5)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait(5)
        for stream in (daemon.stdout, daemon.stderr):
            if stream is not None:
                stream.close()


def home_networks() -> list[Network]:
    return [
        Network("home", 80, password="correct horse"),
        Network("home", 40, password="correct horse", bssid="00:11:22:33:44:66"),
        Network("café", 55),
        Network("neighbour", 20, password="secret123"),
    ]


@pytest.fixture
def config() -> FakeConfig:
    return FakeConfig(networks=home_networks())


@pytest.fixture
async def fake_nm(bus_address: str, config: FakeConfig) -> AsyncIterator[FakeNetworkManager]:
    fake = await FakeNetworkManager.start(bus_address, config)
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def client_bus(bus_address: str) -> AsyncIterator[MessageBus]:
    bus = await MessageBus(bus_address=bus_address).connect()
    try:
        yield bus
    finally:
        bus.disconnect()
