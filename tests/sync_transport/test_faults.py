"""A LightBox SIGKILLed mid-sync and restarted; duplicated and out-of-order deliveries;
two cloud instances sharing the work."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import sqlite3
import sys
import uuid
from pathlib import Path

import aiomqtt
import pytest

from lightbox.cloud.broker.local import LocalMosquitto
from lightbox.edge.store import Store
from lightbox.protocol import SetCommand
from lightbox.sync.messages import down_topic, up_topic
from tests.cloud.broker.helpers import cloud_client
from tests.sync_transport.harness import (
    LIMIT_S,
    eventually,
    open_box,
    open_cloud,
    seed_credentials,
)
from tests.sync_transport.test_convergence import claimed, converged, preset

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def presets_in(db: Path) -> set[str]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {row[0] for row in conn.execute("SELECT id FROM presets")}
    finally:
        conn.close()


async def spawn(
    directory: Path, device_id: str, mqtt_url: str, mode: str
) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.sync_transport.device_proc",
        str(directory),
        device_id,
        mqtt_url,
        mode,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), LIMIT_S)
    assert line.strip() == b"ready", line
    return proc


async def test_lightbox_killed_mid_sync_converges(
    tmp_path: Path, pg_url: str, schema: str, broker: LocalMosquitto
) -> None:
    device_id = f"box-{uuid.uuid4().hex[:10]}"
    directory = tmp_path / "box"
    directory.mkdir()
    async with open_cloud(pg_url, schema, broker) as cloud:
        headers = await cloud.user()
        registration = await cloud.register(device_id)
        await cloud.claim(headers, registration["claim_code"])
        store = Store.open(directory / "lightbox.db")
        seed_credentials(store, registration, broker.url)
        store.close()

        proc = await spawn(directory, device_id, broker.url, "edit")
        assert proc.stdout is not None
        saved: list[str] = []
        while len(saved) < 25:
            line = await asyncio.wait_for(proc.stdout.readline(), LIMIT_S)
            saved.append(line.decode().split()[1])
        proc.send_signal(signal.SIGKILL)  # mid-sync: edits and deltas in flight
        await proc.wait()
        # the owner edits while the LightBox is dead
        await cloud.patch(
            headers,
            device_id,
            {"presets": {"c1": {"id": "c1", "name": "c1", "scene": {"type": "solid"}}}},
        )
        proc = await spawn(directory, device_id, broker.url, "idle")
        try:

            async def done() -> bool:
                view = (await cloud.synced(headers, device_id))["view"]
                on_device = presets_in(directory / "lightbox.db")
                return set(view["presets"]) == on_device and set(saved) | {"c1"} <= on_device

            await eventually(done, "the restarted LightBox and the cloud to converge")
        finally:
            proc.send_signal(signal.SIGKILL)
            await proc.wait()


async def test_duplicated_and_reordered_messages_are_harmless(
    tmp_path: Path, pg_url: str, schema: str, broker: LocalMosquitto
) -> None:
    async with (
        open_cloud(pg_url, schema, broker) as cloud,
        open_box(tmp_path / "box", cloud, broker) as box,
    ):
        ups: list[bytes] = []
        downs: list[bytes] = []
        async with cloud_client(broker) as spy:
            await spy.subscribe(up_topic(box.device_id), qos=1)
            await spy.subscribe(down_topic(box.device_id), qos=1)

            async def record() -> None:
                async for m in spy.messages:
                    assert isinstance(m.payload, bytes)
                    (ups if m.topic.value.endswith("/up") else downs).append(m.payload)

            recorder = asyncio.create_task(record())
            headers = await claimed(box, cloud)
            for level in (10, 20, 30, 40):
                assert (await box.service.execute(SetCommand(brightness=level))).ok
                await asyncio.sleep(0.15)
            save = preset("x", "#0000ff")
            assert (await box.service.execute(save)).ok
            await cloud.patch(headers, box.device_id, {"state": {"power": False}})
            await eventually(lambda: converged(box, cloud, headers), "the first convergence")
            await asyncio.sleep(0.5)
            recorder.cancel()
            assert len(ups) >= 3 and downs
            before = box.view()
            # replay everything, twice, newest first, on both topics
            for payload in [*reversed(ups), *ups]:
                await spy.publish(up_topic(box.device_id), payload, qos=1)
            for payload in [*reversed(downs), *downs]:
                await spy.publish(down_topic(box.device_id), payload, qos=1)
        await asyncio.sleep(1.0)
        await eventually(lambda: converged(box, cloud, headers), "convergence after replays")
        assert box.view() == before
        assert box.service.state.brightness == 40
        assert box.service.state.power is False
        assert box.agent.refused == 0


async def test_two_cloud_instances_share_the_work(
    tmp_path: Path, pg_url: str, schema: str, broker: LocalMosquitto
) -> None:
    async with (
        open_cloud(pg_url, schema, broker) as one,
        open_cloud(pg_url, schema, broker) as two,
        open_box(tmp_path / "a", one, broker) as a,
        open_box(tmp_path / "b", two, broker) as b,
    ):
        headers = await one.user()
        for box in (a, b):
            await box.connect()
            await one.claim(headers, (await box.link.claim_code()).claim_code)
        for level in range(1, 30):
            for box in (a, b):
                assert (await box.service.execute(SetCommand(brightness=level))).ok
            await asyncio.sleep(0.03)
        for box in (a, b):
            await eventually(functools.partial(converged, box, two, headers), "convergence")
        assert one.worker.stats.merged > 0
        assert two.worker.stats.merged > 0
        got = await one.synced(headers, a.device_id)
        assert got["view"]["state"]["brightness"] == 29


async def test_broker_refuses_other_devices_sync_topics(
    tmp_path: Path, pg_url: str, schema: str, broker: LocalMosquitto
) -> None:
    """A device's credentials only reach its own sync topics (ACL lightbox/<id>/#)."""
    async with open_cloud(pg_url, schema, broker) as cloud:
        mine = await cloud.register(f"box-{uuid.uuid4().hex[:8]}")
        other = f"box-{uuid.uuid4().hex[:8]}"
        await cloud.register(other)
        creds = mine["mqtt"]
        async with aiomqtt.Client(
            broker.host,
            broker.port,
            username=creds["username"],
            password=creds["password"],
            identifier=f"lightbox-{mine['device_id']}",
        ) as c:
            granted = await c.subscribe(down_topic(other), qos=1)
            codes = [getattr(g, "value", g) for g in granted]
            assert all(isinstance(x, int) and x >= 0x80 for x in codes), codes
