"""MqttRelay against a real Mosquitto (dynsec, per-device credentials) and the real Redis.

The device is the LightBox's own :class:`MqttLink` with a small fake handler, connected
with the credentials the broker admin created for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from lightbox.cloud.broker import CloudBroker
from lightbox.cloud.broker.local import LocalMosquitto
from lightbox.cloud.cache import Cache, MemoryCache, RedisCache
from lightbox.cloud.errors import DeviceOffline, RelayTimeout
from lightbox.cloud.interfaces import Relay
from lightbox.edge.mqtt import MqttLink, MqttSettings
from lightbox.protocol import (
    CommandResult,
    ErrorInfo,
    PresetApplyCommand,
    SetCommand,
    State,
    parse_command,
)
from lightbox.protocol.topics import ONLINE
from tests.cloud.broker.helpers import LIMIT_S, client, dynsec_broker, redis_url, tag

pytestmark = pytest.mark.integration


class FakeDevice:
    """A command handler: applies ``set``, refuses the rest, remembers results by id."""

    def __init__(self) -> None:
        self.state = State()
        self.received: list[str | None] = []
        self.results: dict[str, CommandResult] = {}
        self.delay_s = 0.0

    async def handle_payload(self, payload: bytes, *, origin: str) -> CommandResult:
        command = parse_command(payload)
        self.received.append(command.id)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if command.id is not None and command.id in self.results:
            return self.results[command.id]
        if isinstance(command, SetCommand):
            self.state = self.state.model_copy(
                update={"power": command.power, "version": self.state.version + 1}
            )
            result = CommandResult(id=command.id, ok=True, version=self.state.version)
        else:
            error = ErrorInfo(code="not_found", message="no such preset")
            result = CommandResult(id=command.id, ok=False, error=error)
        if command.id is not None:
            self.results[command.id] = result
        return result

    def current_state(self) -> State:
        return self.state


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[LocalMosquitto]:
    with dynsec_broker(tmp_path) as b:
        yield b


@contextlib.asynccontextmanager
async def instance(
    broker: LocalMosquitto, cache: Cache | None, name: str
) -> AsyncIterator[CloudBroker]:
    cloud = CloudBroker(
        broker.url,
        username=broker.cloud_username,
        password=broker.cloud_password,
        admin_username=broker.admin_username,
        admin_password=broker.admin_password,
        cache=cache,
        instance_id=f"{name}-{tag()}",
    )
    await cloud.start(wait_connected=LIMIT_S)
    try:
        yield cloud
    finally:
        await cloud.stop()


@contextlib.asynccontextmanager
async def online_device(
    broker: LocalMosquitto, clouds: list[CloudBroker], device: FakeDevice | None = None
) -> AsyncIterator[tuple[str, FakeDevice, MqttLink]]:
    device = device or FakeDevice()
    device_id = f"dev-{tag()}"
    username, password = await clouds[0].create_device(device_id)
    settings = MqttSettings(
        url=broker.url, username=username, password=password, reconnect_max_s=1.0
    )
    link = MqttLink(settings, device_id, device)
    task = asyncio.create_task(link.run())
    try:
        await link.wait_connected(LIMIT_S)
        for cloud in clouds:
            await cloud.presence.wait_for(device_id, True, LIMIT_S)
        yield device_id, device, link
    finally:
        await link.stop()
        async with asyncio.timeout(LIMIT_S):
            await task


@pytest.fixture
async def redis_cache() -> AsyncIterator[RedisCache]:
    cache = RedisCache.from_url(redis_url(), prefix=f"test-{tag()}:")
    try:
        yield cache
    finally:
        await cache.close()


async def test_one_instance_without_cache(broker: LocalMosquitto) -> None:
    async with instance(broker, None, "solo") as cloud:
        relay = cloud.relay
        assert isinstance(relay, Relay)
        assert not relay.results_filter.startswith("$share/")
        async with online_device(broker, [cloud]) as (device_id, device, _):
            result = await relay.send(device_id, SetCommand(power=False), LIMIT_S)
            assert result.ok
            assert result.version == 1
            assert result.id is not None
            assert result.id.startswith(f"{relay.instance_id}.")  # a fresh, routable id
            assert device.received == [result.id]
            # the caller's id is kept (it is the device's idempotency key)
            again = await relay.send(device_id, SetCommand(id="mine-1", power=True), LIMIT_S)
            assert (again.id, again.ok, again.version) == ("mine-1", True, 2)
            repeat = await relay.send(device_id, SetCommand(id="mine-1", power=True), LIMIT_S)
            assert repeat == again  # applied once
            # the device's refusal is a result, not an exception
            refused = await relay.send(device_id, PresetApplyCommand(preset="nope"), LIMIT_S)
            assert not refused.ok
            assert refused.error is not None
            assert refused.error.code == "not_found"
            # concurrent commands are matched by id
            results = await asyncio.gather(
                *(relay.send(device_id, SetCommand(power=True), LIMIT_S) for _ in range(10))
            )
            assert all(r.ok for r in results)
            assert len({r.id for r in results}) == 10
            assert relay.in_flight == 0


async def test_offline_and_unknown_devices_fail_at_once(broker: LocalMosquitto) -> None:
    async with instance(broker, MemoryCache(), "solo") as cloud:
        started = time.monotonic()
        with pytest.raises(DeviceOffline) as caught:
            await cloud.relay.send(f"never-{tag()}", SetCommand(power=True), LIMIT_S)
        assert caught.value.code == "offline"
        async with online_device(broker, [cloud]) as (device_id, _, _link):
            assert (await cloud.relay.send(device_id, SetCommand(power=True), LIMIT_S)).ok
        await cloud.presence.wait_for(device_id, False, LIMIT_S)
        with pytest.raises(DeviceOffline):
            await cloud.relay.send(device_id, SetCommand(power=True), LIMIT_S)
        assert time.monotonic() - started < LIMIT_S
        assert cloud.relay.stats.offline == 2


async def test_no_answer_in_time_is_a_relay_timeout(broker: LocalMosquitto) -> None:
    async with instance(broker, None, "solo") as cloud:
        slow = FakeDevice()
        slow.delay_s = 3.0
        async with online_device(broker, [cloud], slow) as (device_id, _, _):
            started = time.monotonic()
            with pytest.raises(RelayTimeout) as caught:
                await cloud.relay.send(device_id, SetCommand(power=True), 0.5)
            assert 0.4 < time.monotonic() - started < 2.0
            assert caught.value.code == "timeout"
            assert cloud.relay.in_flight == 0
        # a device that says "online" but does not read its commands at all
        mute = f"mute-{tag()}"
        _, password = await cloud.create_device(mute)
        async with client(broker, mute, password, identifier=f"lightbox-{mute}") as c:
            await c.publish(f"lightbox/{mute}/status", ONLINE, qos=1, retain=True)
            await cloud.presence.wait_for(mute, True, LIMIT_S)
            with pytest.raises(RelayTimeout):
                await cloud.relay.send(mute, SetCommand(power=True), 0.5)
        assert cloud.relay.stats.timeouts == 2


async def test_two_instances_answer_through_redis(
    broker: LocalMosquitto, redis_cache: RedisCache
) -> None:
    """Commands sent through A; the broker hands some replies to B, which forwards them."""
    async with (
        instance(broker, redis_cache, "a") as a,
        instance(broker, redis_cache, "b") as b,
    ):
        assert a.relay.results_filter.startswith("$share/lightbox-cloud/")
        async with online_device(broker, [a, b]) as (device_id, device, _):
            for i in range(12):
                sender = a if i < 6 else b
                result = await sender.relay.send(device_id, SetCommand(power=True), LIMIT_S)
                assert result.ok
                assert result.version == i + 1
            # the shared subscription spreads the replies over both instances
            assert a.relay.stats.forwarded_in >= 1, (a.relay.stats, b.relay.stats)
            assert b.relay.stats.forwarded_out >= 1
            assert b.relay.stats.forwarded_in >= 1
            # ids chosen by the caller carry no route: they go through the broadcast channel
            ids = [f"caller-{tag()}" for _ in range(6)]
            results = await asyncio.gather(
                *(a.relay.send(device_id, SetCommand(id=i, power=True), LIMIT_S) for i in ids)
            )
            assert [r.id for r in results] == ids
            assert all(r.ok for r in results)
            assert len(device.received) == 18
            assert a.relay.in_flight == b.relay.in_flight == 0


async def test_reply_reaches_the_other_instance_deterministically(
    broker: LocalMosquitto, redis_cache: RedisCache
) -> None:
    """A sends; only B is in the results group, so the reply must travel B -> Redis -> A."""
    async with instance(broker, redis_cache, "b") as b:
        a = CloudBroker(
            broker.url,
            username=broker.cloud_username,
            password=broker.cloud_password,
            cache=redis_cache,
            instance_id=f"a-{tag()}",
        )
        # A is not in the results group: its results subscription matches no device
        a.relay.results_filter = "lightbox/no-such-device/cmd/result"
        a.connection._subscriptions[-1].topic_filter = a.relay.results_filter
        await a.start(wait_connected=LIMIT_S)
        try:
            async with online_device(broker, [b, a]) as (device_id, _, _):
                result = await a.relay.send(device_id, SetCommand(power=True), LIMIT_S)
                assert result.ok
                assert a.relay.stats.forwarded_in == 1
                assert b.relay.stats.forwarded_out == 1
        finally:
            await a.stop()
