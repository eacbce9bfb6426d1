"""A private D-Bus daemon per test (never the system bus) with a fake NetworkManager on it."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from dbus_fast.aio import MessageBus

from tests.edge.wifi.fake_nm import FakeConfig, FakeNetworkManager, Network

DBUS_DAEMON = shutil.which("dbus-daemon") or "/usr/bin/dbus-daemon"

CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


@pytest.fixture
def bus_address(tmp_path: Path) -> Iterator[str]:
    """The address of a dbus-daemon that this test started and stops."""
    if not Path(DBUS_DAEMON).exists():
        pytest.skip(f"dbus-daemon is not installed ({DBUS_DAEMON})")
    config = tmp_path / "bus.conf"
    config.write_text(CONFIG.format(socket=tmp_path / "bus.sock"))
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
