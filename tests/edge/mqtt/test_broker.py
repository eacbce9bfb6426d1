"""The embedded broker, both implementations: what the LightBox needs from a broker."""

from __future__ import annotations

import asyncio
import json
import shutil
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import pytest

from lightbox.edge.mqtt import MqttLink, parse_mqtt_url
from lightbox.edge.mqtt.broker import BrokerError, EmbeddedBroker
from tests.edge.mqtt.conftest import (
    Device,
    FakeHandler,
    RunningLink,
    Watcher,
    publish,
    results_by_id,
    skip_or_fail,
)


@pytest.fixture(params=["mosquitto", "amqtt"])
async def broker(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[EmbeddedBroker]:
    if request.param == "mosquitto" and shutil.which("mosquitto") is None:
        skip_or_fail("the mosquitto binary is not on PATH")
    embedded = EmbeddedBroker(port=0, data_dir=tmp_path / "broker", backend=request.param)
    await embedded.start()
    try:
        yield embedded
    finally:
        await embedded.stop()


def _str(value: str) -> bytes:
    data = value.encode()
    return struct.pack("!H", len(data)) + data


async def connect_with_will_then_vanish(url: str, client_id: str, topic: str) -> None:
    """CONNECT with a will (QoS 1, retained), then close the socket: no DISCONNECT."""
    parsed = parse_mqtt_url(url)
    flags = 0x02 | 0x04 | 0x08 | 0x20  # clean session, will, will QoS 1, will retain
    variable = _str("MQTT") + bytes([4, flags]) + struct.pack("!H", 60)
    body = variable + _str(client_id) + _str(topic) + _str("offline")
    assert len(body) < 128
    reader, writer = await asyncio.open_connection(parsed.host, parsed.port)
    writer.write(bytes([0x10, len(body)]) + body)
    await writer.drain()
    async with asyncio.timeout(10):
        connack = await reader.readexactly(4)
    assert connack == b"\x20\x02\x00\x00", connack
    writer.transport.abort()  # drop the connection, as a crash or a pulled cable would


async def test_start_on_port_0_picks_a_port(broker: EmbeddedBroker) -> None:
    assert broker.running
    assert broker.port != 0
    assert broker.url == f"mqtt://127.0.0.1:{broker.port}"


async def test_qos1_round_trip_and_retained(broker: EmbeddedBroker) -> None:
    async with Watcher(broker.url, ["t/live"]) as watch:
        await publish(broker.url, "t/live", b"hello")
        await watch.wait_payload("t/live", b"hello")
        assert watch.messages[0].qos == 1
    await publish(broker.url, "t/kept", b"state", retain=True)
    async with Watcher(broker.url, ["t/kept"]) as late:
        await late.wait_payload("t/kept", b"state")
        assert late.messages[0].retain


async def test_last_will(broker: EmbeddedBroker) -> None:
    async with Watcher(broker.url, ["dev/status"]) as watch:
        await connect_with_will_then_vanish(broker.url, "vanisher", "dev/status")
        await watch.wait_payload("dev/status", b"offline")
    async with Watcher(broker.url, ["dev/status"]) as late:
        await late.wait_payload("dev/status", b"offline")
        assert late.messages[0].retain


async def test_persistent_session_gets_what_was_queued(broker: EmbeddedBroker) -> None:
    parsed = parse_mqtt_url(broker.url)
    async with aiomqtt.Client(
        parsed.host, parsed.port, identifier="keeper", clean_session=False
    ) as c:
        await c.subscribe("q/cmd", qos=1)
    await publish(broker.url, "q/cmd", b"one", b"two", b"three")
    got: list[bytes] = []
    async with aiomqtt.Client(
        parsed.host, parsed.port, identifier="keeper", clean_session=False
    ) as c:
        async with asyncio.timeout(10):
            async for message in c.messages:
                got.append(message.payload)
                if len(got) == 3:
                    break
    assert got == [b"one", b"two", b"three"]


async def test_the_link_works_against_it(broker: EmbeddedBroker, device: Device) -> None:
    handler = FakeHandler()
    t = device.topics
    link = MqttLink(device.settings(broker.url), device.device_id, handler)
    async with Watcher(broker.url, [t.result]) as watch, RunningLink(link):
        command = json.dumps({"id": "e1", "type": "set", "brightness": 5}).encode()
        await publish(broker.url, t.cmd, command)
        await watch.wait_for(lambda ms: "e1" in results_by_id(watch, t.result), what="a result")
    assert handler.state.brightness == 5


async def test_mosquitto_keeps_sessions_across_a_restart(tmp_path: Path) -> None:
    if shutil.which("mosquitto") is None:
        skip_or_fail("the mosquitto binary is not on PATH")
    broker = EmbeddedBroker(port=0, data_dir=tmp_path / "data", backend="mosquitto")
    await broker.start()
    try:
        parsed = parse_mqtt_url(broker.url)
        async with aiomqtt.Client(
            parsed.host, parsed.port, identifier="keeper", clean_session=False
        ) as c:
            await c.subscribe("q/cmd", qos=1)
        await publish(broker.url, "q/cmd", b"queued")
        await broker.stop()
        assert not broker.running
        await broker.start()  # same port, same data dir
        async with (
            aiomqtt.Client(parsed.host, parsed.port, identifier="keeper", clean_session=False) as c,
            asyncio.timeout(10),
        ):
            async for message in c.messages:
                assert message.payload == b"queued"
                break
    finally:
        await broker.stop()


async def test_stopped_broker_refuses_connections(tmp_path: Path) -> None:
    broker = EmbeddedBroker(port=0, backend="amqtt")
    await broker.start()
    parsed = parse_mqtt_url(broker.url)
    await broker.stop()
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client(parsed.host, parsed.port, timeout=2):
            pass


async def test_a_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    if shutil.which("mosquitto") is None:
        skip_or_fail("the mosquitto binary is not on PATH")
    async with EmbeddedBroker(port=0, backend="mosquitto") as first:
        second = EmbeddedBroker(port=first.port, backend="mosquitto")
        with pytest.raises(BrokerError, match="did not start"):
            await second.start()
        assert not second.running
