"""MqttLink when things go wrong: a killed device, broker restarts, redelivery."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiomqtt
import pytest

from lightbox.edge.mqtt import MqttLink, parse_mqtt_url
from lightbox.edge.mqtt.link import _settle
from tests.edge.mqtt.conftest import (
    Device,
    FakeHandler,
    MosquittoProcess,
    RunningLink,
    Watcher,
    forget,
    publish,
    results_by_id,
)

ROOT = Path(__file__).resolve().parents[3]


def set_cmd(command_id: str, **fields: object) -> bytes:
    return json.dumps({"id": command_id, "type": "set", **fields}).encode()


@asynccontextmanager
async def device_process(
    url: str, device: Device, delay_s: float = 0.0
) -> AsyncIterator[asyncio.subprocess.Process]:
    """Run a link in a child process; yield once it is online; SIGKILL it at the end."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.edge.mqtt.device_process",
        url,
        device.prefix,
        device.device_id,
        str(delay_s),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(20):
            line = await proc.stdout.readline()
        assert line.strip() == b"connected", f"device process said {line!r}"
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
        async with asyncio.timeout(10):
            await proc.wait()


async def test_last_will_says_offline_when_the_device_dies(broker_url: str, device: Device) -> None:
    t = device.topics
    async with Watcher(broker_url, [t.status]) as watch, device_process(broker_url, device) as proc:
        await watch.wait_payload(t.status, b"online")
        proc.send_signal(signal.SIGKILL)  # no DISCONNECT, no goodbye: only the will
        await proc.wait()
        await watch.wait_payload(t.status, b"offline")
    async with Watcher(broker_url, [t.status]) as late:
        await late.wait_for(lambda ms: len(ms) >= 1, what="retained status")
        assert late.messages[0].payload == b"offline"


async def test_a_command_cut_off_by_a_crash_is_delivered_again(
    broker_url: str, device: Device
) -> None:
    """The PUBACK goes out only after the result: a crash mid-command means redelivery."""
    t = device.topics
    async with Watcher(broker_url, [t.result]) as watch:
        async with device_process(broker_url, device, delay_s=5.0) as proc:
            await publish(broker_url, t.cmd, set_cmd("cut", brightness=5))
            await asyncio.sleep(0.5)  # the slow handler is now working on it
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
        assert watch.messages == []
        handler = FakeHandler()
        link = MqttLink(device.settings(broker_url), device.device_id, handler)
        async with RunningLink(link):
            await watch.wait_for(lambda ms: len(ms) >= 1, what="the redelivered command's result")
    assert results_by_id(watch, t.result)["cut"][0].ok
    assert handler.state.brightness == 5


async def wait_disconnected(link: MqttLink, limit_s: float = 10.0) -> None:
    async with asyncio.timeout(limit_s):
        while link.connected:  # noqa: ASYNC110 (polling the link from outside)
            await asyncio.sleep(0.01)


async def test_reconnects_after_a_broker_restart(
    own_broker: MosquittoProcess, device: Device
) -> None:
    handler = FakeHandler()
    t = device.topics
    link = MqttLink(device.settings(own_broker.url), device.device_id, handler)
    async with RunningLink(link):
        await asyncio.to_thread(own_broker.stop)
        await wait_disconnected(link)
        await asyncio.sleep(0.3)  # a few failed attempts while the broker is away
        await asyncio.to_thread(own_broker.start)
        await link.wait_connected(10)
        async with Watcher(own_broker.url, [t.result, t.status]) as watch:
            await watch.wait_payload(t.status, b"online")
            await publish(own_broker.url, t.cmd, set_cmd("after-restart", power=False))
            await watch.wait_for(
                lambda ms: "after-restart" in results_by_id(watch, t.result),
                what="a result after the restart",
            )
    assert handler.state.power is False


async def publish_reliably(
    url: str, topic: str, payloads: list[bytes], client_id: str, progress: list[int]
) -> None:
    """Publish each payload at QoS 1 until the broker acknowledged it, across restarts."""
    parsed = parse_mqtt_url(url)
    sent = 0
    while sent < len(payloads):
        client = aiomqtt.Client(
            parsed.host, parsed.port, identifier=client_id, clean_session=False, timeout=5
        )
        try:
            async with client:
                while sent < len(payloads):
                    await client.publish(topic, payloads[sent], qos=1, timeout=1)
                    sent += 1
                    progress[0] = sent
        except aiomqtt.MqttError:
            await asyncio.sleep(0.05)  # not acknowledged: send it again (same id)
        finally:
            _settle(client)


async def command_stream_across_restarts(
    broker: MosquittoProcess, device: Device, *, commands: int, restarts: int
) -> None:
    handler = FakeHandler()
    t = device.topics
    tag = device.device_id.removeprefix("dev-")
    ids = [f"s{i}" for i in range(commands)]
    payloads = [set_cmd(i, brightness=n % 256) for n, i in enumerate(ids)]
    link = MqttLink(device.settings(broker.url), device.device_id, handler)
    progress = [0]
    watch = Watcher(broker.url, [t.result], client_id=f"watch-{tag}", persistent=True)
    async with watch, RunningLink(link):
        publisher = asyncio.create_task(
            publish_reliably(broker.url, t.cmd, payloads, f"pub-{tag}", progress)
        )
        step = commands // (restarts + 1)
        for n in range(1, restarts + 1):
            while progress[0] < n * step and not publisher.done():  # noqa: ASYNC110
                await asyncio.sleep(0.005)
            await asyncio.to_thread(broker.restart)
        async with asyncio.timeout(60):
            await publisher
        await watch.wait_for(
            lambda ms: set(results_by_id(watch, t.result)) >= set(ids),
            limit_s=60,
            what=f"results for all {commands} commands",
        )
    assert broker.starts == restarts + 1
    assert handler.applied == Counter(dict.fromkeys(ids, 1)), "a command was lost or applied twice"
    results = results_by_id(watch, t.result)
    assert all(r.ok for i in ids for r in results[i])
    # Redelivered commands get the first result again, never a second version.
    assert all(len({r.version for r in results[i]}) == 1 for i in ids)
    await forget(broker.url, [f"lightbox-{device.device_id}", f"watch-{tag}", f"pub-{tag}"], [])


async def test_command_stream_survives_broker_restarts(
    own_broker: MosquittoProcess, device: Device
) -> None:
    await command_stream_across_restarts(own_broker, device, commands=100, restarts=2)


@pytest.mark.slow
async def test_command_stream_survives_ten_broker_restarts(
    own_broker: MosquittoProcess, device: Device
) -> None:
    await command_stream_across_restarts(own_broker, device, commands=500, restarts=10)
