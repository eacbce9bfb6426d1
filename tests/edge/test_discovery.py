"""mDNS / DNS-SD: the advertiser and discover(), on loopback and across two network namespaces.

The namespace test really sends multicast: two namespaces made by the test, joined by a veth
pair with TEST-NET-1 addresses (192.0.2.0/24, inside the namespaces only), an advertiser in
one and the browser in the other, each a subprocess (tests/edge/mdns_peer.py). It needs
root and ``ip``; without them it is skipped, except under CI (env ``CI`` set), where it fails.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lightbox.edge.discovery import (
    SERVICE_TYPE,
    Advertiser,
    Found,
    _instance_name,
    discover,
    host_addresses,
)

LOOPBACK = ["127.0.0.1"]
PEER = Path(__file__).with_name("mdns_peer.py")


# -- pure parts -------------------------------------------------------------------------
def test_instance_name() -> None:
    assert _instance_name("Kitchen sign", "lbx-1") == "Kitchen sign"
    assert _instance_name("  a.b  c ", "lbx-1") == "a b c"
    assert _instance_name("", "lbx-1") == "lbx-1"
    long = _instance_name("é" * 40, "lbx-1")
    assert len(long.encode()) <= 63 and long == "é" * 31


def test_host_addresses() -> None:
    assert host_addresses(LOOPBACK) == LOOPBACK
    assert "127.0.0.1" not in host_addresses()


def test_found_url() -> None:
    found = Found(id="x", name="x", host="x.local", addresses=["192.0.2.1"], port=80)
    assert found.url == "http://192.0.2.1:80/api/v1"
    assert Found(id="x", name="x", host="x.local").url is None


# -- in-process, on loopback ------------------------------------------------------------
def _unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


@pytest.fixture
async def advertiser() -> AsyncIterator[tuple[Advertiser, list[bool]]]:
    paired = [False]
    adv = Advertiser(
        device_id=_unique("lbx-test"),
        name=_unique("Loop box"),
        port=8123,
        version="1.2.3",
        paired=lambda: paired[0],
        interfaces=LOOPBACK,
    )
    await adv.start()
    try:
        yield adv, paired
    finally:
        await adv.stop()


async def _find(device_id: str, listen_s: float = 1.5) -> Found | None:
    found = [f for f in await discover(timeout=listen_s, interfaces=LOOPBACK) if f.id == device_id]
    assert len(found) <= 1
    return found[0] if found else None


async def test_advertise_and_discover_on_loopback(
    advertiser: tuple[Advertiser, list[bool]],
) -> None:
    adv, paired = advertiser
    found = await _find(adv.device_id)
    assert found is not None
    name = adv.service_name
    assert name is not None and name.endswith("." + SERVICE_TYPE)
    assert found == Found(
        id=adv.device_id,
        name=name.removesuffix("." + SERVICE_TYPE),
        host=f"{adv.device_id}.local",
        addresses=["127.0.0.1"],
        port=8123,
        version="1.2.3",
        api="/api/v1",
        paired=False,
        service=name,
    )
    assert found.url == "http://127.0.0.1:8123/api/v1"

    assert await adv.update() is False  # nothing changed: no announcement
    paired[0] = True
    assert await adv.update() is True
    found = await _find(adv.device_id)
    assert found is not None and found.paired is True

    old = adv.service_name
    new_name = _unique("Renamed box")
    assert await adv.update(name=new_name) is True
    assert adv.service_name == f"{new_name}.{SERVICE_TYPE}"
    everything = await discover(timeout=1.5, interfaces=LOOPBACK)
    mine = [f for f in everything if f.id == adv.device_id]
    assert [f.name for f in mine] == [new_name]
    assert old not in {f.service for f in everything}


async def test_same_name_is_made_unique() -> None:
    name = _unique("Twin")
    first = Advertiser(
        device_id=_unique("a"), name=name, port=1, paired=lambda: False, interfaces=LOOPBACK
    )
    second = Advertiser(
        device_id=_unique("b"), name=name, port=2, paired=lambda: False, interfaces=LOOPBACK
    )
    assert first.device_id < second.device_id  # the greater id gives way
    await first.start()
    try:
        await second.start()
        try:
            # zeroconf's probing catches the name at once, or the conflict is resolved
            # after both announced it (when the first's defence came too late)
            deadline = asyncio.get_running_loop().time() + 10
            while second.service_name in (None, first.service_name):
                assert asyncio.get_running_loop().time() < deadline, "still the same name"
                await asyncio.sleep(0.1)
            assert first.service_name == f"{name}.{SERVICE_TYPE}"
            assert second.service_name is not None
            assert second.service_name.startswith(name)
            found = {f.id: f for f in await discover(timeout=1.5, interfaces=LOOPBACK)}
            assert found[first.device_id].name == name  # TXT name is the device name
            assert found[second.device_id].name == name
            assert found[second.device_id].service == second.service_name
        finally:
            await second.stop()
    finally:
        await first.stop()


async def test_stop_says_goodbye(advertiser: tuple[Advertiser, list[bool]]) -> None:
    adv, _ = advertiser
    assert await _find(adv.device_id) is not None
    await adv.stop()
    assert adv.service_name is None
    assert await _find(adv.device_id, listen_s=1.0) is None
    await adv.stop()  # twice is fine


async def test_watch_loop_notices_changes() -> None:
    paired = [False]
    adv = Advertiser(
        device_id=_unique("lbx-poll"),
        name=_unique("Poll box"),
        port=3,
        paired=lambda: paired[0],
        interfaces=LOOPBACK,
        poll_s=0.1,
    )
    await adv.start()
    try:
        assert adv.announcements == 1
        paired[0] = True
        for _ in range(50):
            if adv.announcements == 2:
                break
            await asyncio.sleep(0.05)
        assert adv.announcements == 2
    finally:
        await adv.stop()


# -- two network namespaces joined by a veth pair --------------------------------------
def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True, timeout=10)


def _netns_unavailable() -> str | None:
    if shutil.which("ip") is None:
        return "the 'ip' command (iproute2) is not installed"
    if os.geteuid() != 0:
        return "creating network namespaces needs root"
    probe = f"lbxprobe{os.getpid()}"
    result = _ip("netns", "add", probe, check=False)
    if result.returncode != 0:
        return f"network namespaces are not supported here: {result.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return None


@pytest.fixture
def netns_pair() -> Iterator[tuple[str, str]]:
    reason = _netns_unavailable()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the namespace test: {reason}")
        pytest.skip(reason)
    tag = secrets.token_hex(3)
    a, b = f"lbxa{tag}", f"lbxb{tag}"
    try:
        _ip("netns", "add", a)
        _ip("netns", "add", b)
        _ip("-n", a, "link", "add", "v0", "type", "veth", "peer", "name", "v1", "netns", b)
        for ns, dev, address in ((a, "v0", "192.0.2.1/24"), (b, "v1", "192.0.2.2/24")):
            _ip("-n", ns, "addr", "add", address, "dev", dev)
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "link", "set", dev, "up")
        yield a, b
    finally:
        for ns in (a, b):
            _ip("netns", "del", ns, check=False)


class Peer:
    """A mdns_peer.py subprocess in a namespace, talking JSON lines."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, ns: str, *args: str) -> Peer:
        proc = await asyncio.create_subprocess_exec(
            "ip",
            "netns",
            "exec",
            ns,
            sys.executable,
            str(PEER),
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(proc)

    async def read(self, limit_s: float = 10.0) -> Any:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), limit_s)
        if not line:
            assert self.proc.stderr is not None
            err = await self.proc.stderr.read()
            raise AssertionError(f"peer ended: {err.decode(errors='replace')}")
        return json.loads(line)

    async def until(self, match: Callable[[Any], bool], limit_s: float = 10.0) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit_s
        while True:
            message = await self.read(max(0.01, deadline - loop.time()))
            if match(message):
                return message

    async def write(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        await self.proc.stdin.drain()

    async def send(self, line: str) -> Any:
        await self.write(line)
        return await self.read()

    async def close(self) -> None:
        if self.proc.returncode is None:
            if self.proc.stdin is not None and not self.proc.stdin.is_closing():
                self.proc.stdin.close()
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        # drain the pipes so that no transport is left open
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                await stream.read()


async def _discover_in(ns: str) -> list[dict[str, Any]]:
    peer = await Peer.start(ns, "discover", "--timeout", "2")
    try:
        found = await peer.read(15)
        assert isinstance(found, list)
        return found
    finally:
        await peer.close()


def _is(event: str, **fields: Any) -> Callable[[Any], bool]:
    def match(message: Any) -> bool:
        if message.get("event") != event:
            return False
        found = message.get("found", message)
        return all(found.get(k) == v for k, v in fields.items())

    return match


async def test_discovery_across_namespaces(netns_pair: tuple[str, str]) -> None:
    box_ns, phone_ns = netns_pair
    device_id = "lbx-netns-test"
    box = await Peer.start(
        box_ns,
        "advertise",
        "--id",
        device_id,
        "--name",
        "Netns box",
        "--port",
        "8080",
        "--poll",
        "0.5",
    )
    watcher: Peer | None = None
    try:
        ready = await box.read(15)
        assert ready == {"ready": f"Netns box.{SERVICE_TYPE}"}

        # a browser in the other namespace finds it, with every TXT field
        (found,) = await _discover_in(phone_ns)
        assert found == {
            "id": device_id,
            "name": "Netns box",
            "host": f"{device_id}.local",
            "addresses": ["192.0.2.1"],
            "port": 8080,
            "version": "9.9.9",
            "api": "/api/v1",
            "paired": False,
            "service": f"Netns box.{SERVICE_TYPE}",
        }

        # a browser that keeps listening sees the re-announcements
        watcher = await Peer.start(phone_ns, "watch", "--seconds", "30")
        assert await watcher.read(15) == {"watching": True}
        await watcher.until(_is("added", name="Netns box"))

        answer = await box.send("rename Hall sign")
        assert answer == {"ok": True, "service": f"Hall sign.{SERVICE_TYPE}"}
        await watcher.until(_is("removed", service=f"Netns box.{SERVICE_TYPE}"))
        added = await watcher.until(_is("added", name="Hall sign"))
        assert added["found"]["paired"] is False

        assert (await box.send("paired 1"))["ok"] is True
        await watcher.until(_is("updated", name="Hall sign", paired=True))

        # a new address on the box's host is noticed by its poll and announced
        _ip("-n", box_ns, "addr", "add", "192.0.2.11/24", "dev", "v0")
        await asyncio.sleep(1.5)
        (found,) = await _discover_in(phone_ns)
        assert found["addresses"] == ["192.0.2.1", "192.0.2.11"]
        assert found["name"] == "Hall sign" and found["paired"] is True

        # stopping says goodbye
        await box.write("quit")
        await watcher.until(_is("removed", service=f"Hall sign.{SERVICE_TYPE}"))
    finally:
        await box.close()
        if watcher is not None:
            watcher.proc.kill()
            await watcher.close()


async def test_cli_discover(advertiser: tuple[Advertiser, list[bool]]) -> None:
    import typer
    from typer.testing import CliRunner

    from lightbox.cli.discover import discover as discover_command

    adv, _ = advertiser
    app = typer.Typer()
    app.command("discover")(discover_command)
    app.command("other")(lambda: None)
    args = ["discover", "--timeout", "1.5", "--interface", "127.0.0.1"]
    result = await asyncio.to_thread(CliRunner().invoke, app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["id"]: row for row in json.loads(result.stdout)}
    assert rows[adv.device_id]["url"] == "http://127.0.0.1:8123/api/v1"
    result = await asyncio.to_thread(CliRunner().invoke, app, args)
    assert result.exit_code == 0, result.output
    assert "LightBox" in result.stdout and "1.2.3" in result.stdout
