"""Presence from devices' status topics and last wills, on a real Mosquitto with dynsec."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiomqtt
import pytest

from lightbox.cloud.broker import BrokerConnection, CloudBroker, DynsecAdmin, PresenceWatcher
from lightbox.cloud.broker.local import LocalMosquitto
from lightbox.cloud.interfaces import BrokerAdmin
from lightbox.edge.mqtt import MqttLink, MqttSettings
from lightbox.protocol import CommandResult, State
from lightbox.protocol.topics import OFFLINE, ONLINE
from tests.cloud.broker.helpers import LIMIT_S, client, dynsec_broker, recording, settle, tag

pytestmark = pytest.mark.integration


class Seen:
    """Records on_presence calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bool, datetime]] = []
        self.changed = asyncio.Event()
        self.explode = False

    async def __call__(self, device_id: str, online: bool, at: datetime) -> None:
        self.calls.append((device_id, online, at))
        self.changed.set()
        if self.explode:
            raise RuntimeError("the database is down")

    def of(self, device_id: str) -> list[bool]:
        return [online for d, online, _ in self.calls if d == device_id]

    async def wait(self, device_id: str, expected: list[bool]) -> None:
        try:
            async with asyncio.timeout(LIMIT_S):
                while self.of(device_id) != expected:
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            raise AssertionError(f"{device_id}: {self.of(device_id)} != {expected}") from None


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[LocalMosquitto]:
    with dynsec_broker(tmp_path) as b:
        yield b


@pytest.fixture
def admin(broker: LocalMosquitto) -> DynsecAdmin:
    return DynsecAdmin(broker.admin_url, timeout=LIMIT_S)


@contextlib.asynccontextmanager
async def watching(broker: LocalMosquitto, seen: Seen) -> AsyncIterator[PresenceWatcher]:
    connection = BrokerConnection(broker.cloud_url, reconnect_min_s=0.1, reconnect_max_s=0.5)
    watcher = PresenceWatcher(connection, seen)
    task = asyncio.create_task(connection.run())
    try:
        await connection.wait_connected(LIMIT_S)
        yield watcher
    finally:
        await connection.stop()
        async with asyncio.timeout(LIMIT_S):
            await task


def status(device_id: str) -> str:
    return f"lightbox/{device_id}/status"


def device(broker: LocalMosquitto, device_id: str, password: str) -> aiomqtt.Client:
    will = aiomqtt.Will(status(device_id), OFFLINE, qos=1, retain=True)
    return client(broker, device_id, password, identifier=f"lightbox-{device_id}", will=will)


def cut(c: aiomqtt.Client) -> None:
    """Drop a client's TCP connection without DISCONNECT (as a power cut would)."""
    sock = c._client.socket()
    assert isinstance(sock, socket.socket)
    sock.shutdown(socket.SHUT_RDWR)


async def test_last_will_marks_the_device_offline(
    broker: LocalMosquitto, admin: DynsecAdmin
) -> None:
    seen = Seen()
    device_id = f"dev-{tag()}"
    _, password = await admin.create_device(device_id)
    async with watching(broker, seen) as watcher:
        dev = device(broker, device_id, password)
        await dev.__aenter__()
        try:
            await dev.publish(status(device_id), ONLINE, qos=1, retain=True)
            await seen.wait(device_id, [True])
            assert watcher.is_online(device_id) is True
            before = datetime.now(UTC)
            cut(dev)
            await seen.wait(device_id, [True, False])
        finally:
            with contextlib.suppress(Exception):
                await dev.__aexit__(None, None, None)
            settle(dev)
        _, online, at = seen.calls[-1]
        assert online is False
        assert at.tzinfo is not None
        assert before - timedelta(seconds=1) <= at <= datetime.now(UTC)
        assert watcher.is_online(device_id) is False
        assert watcher.is_online(f"never-{tag()}") is None


async def test_retained_status_is_known_at_start(
    broker: LocalMosquitto, admin: DynsecAdmin
) -> None:
    """Every instance subscribes unshared, so the retained statuses reach a new instance."""
    up, down = f"up-{tag()}", f"down-{tag()}"
    _, password_up = await admin.create_device(up)
    _, password_down = await admin.create_device(down)
    async with asyncio.timeout(LIMIT_S), device(broker, down, password_down) as d:
        await d.publish(status(down), OFFLINE, qos=1, retain=True)
    async with device(broker, up, password_up) as d:
        await d.publish(status(up), ONLINE, qos=1, retain=True)
        first, second = Seen(), Seen()
        async with watching(broker, first) as a, watching(broker, second) as b:
            for seen in (first, second):
                await seen.wait(up, [True])
                await seen.wait(down, [False])
            assert a.online_devices() == b.online_devices() == {up}
            # a status repeated (e.g. after a reconnect) is not reported twice
            await d.publish(status(up), ONLINE, qos=1, retain=True)
            await d.publish(status(up), "garbage", qos=1)
            await d.publish(status(up), OFFLINE, qos=1, retain=True)
            await first.wait(up, [True, False])


async def test_edge_link_online_and_clean_stop(broker: LocalMosquitto, admin: DynsecAdmin) -> None:
    """The LightBox's own MqttLink, with its cloud credentials, drives presence."""

    class Handler:
        async def handle_payload(self, payload: bytes, *, origin: str) -> CommandResult:
            return CommandResult(ok=True)

        def current_state(self) -> State:
            return State()

    seen = Seen()
    device_id = f"dev-{tag()}"
    username, password = await admin.create_device(device_id)
    settings = MqttSettings(
        url=broker.url, username=username, password=password, reconnect_max_s=1.0
    )
    link = MqttLink(settings, device_id, Handler())
    async with watching(broker, seen):
        task = asyncio.create_task(link.run())
        await link.wait_connected(LIMIT_S)
        await seen.wait(device_id, [True])
        await link.stop()
        async with asyncio.timeout(LIMIT_S):
            await task
        await seen.wait(device_id, [True, False])


async def test_a_device_cannot_forge_another_devices_presence(
    broker: LocalMosquitto, admin: DynsecAdmin
) -> None:
    seen = Seen()
    victim, forger = f"victim-{tag()}", f"forger-{tag()}"
    _, password_victim = await admin.create_device(victim)
    _, password = await admin.create_device(forger)
    async with watching(broker, seen), device(broker, victim, password_victim) as v:
        await v.publish(status(victim), ONLINE, qos=1, retain=True)
        await seen.wait(victim, [True])
        # a will on the victim's status topic: refused at CONNECT, or never published
        will = aiomqtt.Will(status(victim), OFFLINE, qos=1, retain=True)
        bad = client(broker, forger, password, identifier=f"lightbox-{forger}", will=will)
        with contextlib.suppress(aiomqtt.MqttError):
            async with asyncio.timeout(LIMIT_S), bad:
                await bad.publish(status(victim), OFFLINE, qos=1, retain=True)
                cut(bad)
        settle(bad)
        # the victim's own marker arrives after anything the forger could have caused
        await v.publish(status(victim), OFFLINE, qos=1, retain=True)
        await seen.wait(victim, [True, False])
        async with recording(client(broker, broker.cloud_username, broker.cloud_password)) as r:
            await r.client.subscribe(status(victim), qos=1)
            await r.wait_for(lambda: r.on(status(victim)) == [OFFLINE.encode()], "retained")


async def test_revoked_device_goes_offline_and_callback_errors_are_survived(
    broker: LocalMosquitto,
) -> None:
    """A kicked client leaves without its will: CloudBroker.revoke_device says offline."""
    seen = Seen()
    seen.explode = True  # on_presence failing must not end the subscription
    cloud = CloudBroker(
        broker.url,
        username=broker.cloud_username,
        password=broker.cloud_password,
        admin_username=broker.admin_username,
        admin_password=broker.admin_password,
        on_presence=seen,
    )
    assert isinstance(cloud, BrokerAdmin)
    await cloud.start(wait_connected=LIMIT_S)
    try:
        device_id = f"dev-{tag()}"
        _, password = await cloud.create_device(device_id)
        dev = device(broker, device_id, password)
        await dev.__aenter__()
        try:
            await dev.publish(status(device_id), ONLINE, qos=1, retain=True)
            await seen.wait(device_id, [True])
            await cloud.revoke_device(device_id)
            await seen.wait(device_id, [True, False])
            assert cloud.presence.is_online(device_id) is False
        finally:
            with contextlib.suppress(Exception):
                await dev.__aexit__(None, None, None)
            settle(dev)
    finally:
        await cloud.stop()
