"""Sync transport benchmark: bytes per device per day, and one cloud instance's throughput.

1. **Bytes per simulated day** on a realistic trace (scene changes, brightness drags of
   many steps, presets applied by hand and by a schedule firing, a preset edited, a
   setting changed), batched every 3 s as the SyncAgent does, through the real message
   codec and the cloud's real answer (:func:`lightbox.cloud.sync.merge.answer`), MQTT
   framing included (fixed header, topic, packet id, PUBACK). Delta sync beside sending
   the full document each batch. Telemetry is reported separately (one batch a minute).
2. **Throughput of one cloud instance** (:class:`~lightbox.cloud.sync.SyncWorker`) with
   10,000 simulated devices, over a real Mosquitto (dynamic security) and PostgreSQL. The
   devices are simulated by clients that publish, as the cloud service user (allowed
   ``lightbox/#``), on the 10,000 devices' ``sync/up`` topics; the worker merges each
   delta under a row lock, commits and publishes its ack on ``sync/down``. Throughput:
   a burst of one delta per device, merged per second. Latency: deltas paced at 2,000/s,
   publish → ack received by the simulating client (end to end, through the broker).

``--quick`` runs in under a minute (2,000 devices, 3 s paced). Last line:
``sync: delta <pct>% of full, <n> updates/s, p99 <ms> ms``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import multiprocessing
import os
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiomqtt
from sqlalchemy import insert, text

from lightbox import aio
from lightbox.cloud.broker.local import LocalMosquitto
from lightbox.cloud.db import Device, create_engine
from lightbox.cloud.db.migrate import upgrade
from lightbox.cloud.sync import SyncWorkerPool, WorkerSpec
from lightbox.cloud.sync.merge import answer
from lightbox.protocol.settings import Settings
from lightbox.protocol.state import State
from lightbox.sync import (
    DEVICE,
    Ack,
    Delta,
    Document,
    Hlc,
    PeerMarks,
    Register,
    Timestamp,
    acknowledge,
    changes,
    document_view,
    empty_view,
    from_models,
    outgoing,
    receive,
    snapshot,
)
from lightbox.sync.messages import (
    SyncMessage,
    down_topic,
    encode_message,
    encode_telemetry,
    up_topic,
)
from machine import describe  # bench/machine.py, beside this script

sys.path.insert(0, str(Path(__file__).parent))
from sync_model import library

DAY_MS = 86_400_000
BATCH_MS = 3_000
PUBLISHERS = 8
DATABASE_URL = os.environ.get(
    "LIGHTBOX_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


def mqtt_bytes(topic: str, payload: bytes) -> int:
    """A QoS 1 PUBLISH (header, topic, packet id, payload) plus its PUBACK."""
    body = 2 + len(topic) + 2 + len(payload)
    length_bytes = 1 if body < 128 else 2 if body < 16_384 else 3
    return 1 + length_bytes + body + 4


def bytes_per_day(seed: int = 1) -> tuple[int, int, int]:
    """(delta bytes, full bytes, telemetry bytes) for one device and one day."""
    rng = random.Random(seed)
    presets, playlists, schedules = library()
    state, settings = State(), Settings()
    now = [1_717_400_000_000]
    clock = Hlc(DEVICE, lambda: now[0])
    view = from_models(state, settings, presets, playlists, schedules)
    doc = Document().record(changes(empty_view(), view), Timestamp(0, 0, DEVICE))
    marks, cloud, cloud_marks = PeerMarks(), Document(), PeerMarks()
    owed: Ack | None = None
    events: list[tuple[int, str]] = []
    for _ in range(10):  # brightness drags: a slider sends ~20 steps a second for 1-2 s
        t = rng.randrange(DAY_MS)
        events += [(t + i * 50, "brightness") for i in range(rng.randint(20, 40))]
    events += [(rng.randrange(DAY_MS), "scene") for _ in range(6)]
    events += [(rng.randrange(DAY_MS), "preset") for _ in range(8)]
    events += [(7 * 3_600_000 + 30 * 60_000, "schedule"), (rng.randrange(DAY_MS), "power")]
    events += [(rng.randrange(DAY_MS), "power")]
    events += [(rng.randrange(DAY_MS), "edit-preset"), (rng.randrange(DAY_MS), "setting")]
    events.sort()
    start = now[0]
    up, down = up_topic("box-0123456789"), down_topic("box-0123456789")
    full = delta_total = 0
    pending, window_end = True, start + BATCH_MS
    for at, what in [*events, (DAY_MS, "end")]:
        if pending and (what == "end" or start + at >= window_end):
            now[0] = window_end
            full += mqtt_bytes(up, snapshot(doc, origin=DEVICE))
            full += mqtt_bytes(down, encode_message(SyncMessage(Ack(doc.top))))
            delta, marks = outgoing(doc, marks, origin=DEVICE, peer="cloud")
            payload = encode_message(SyncMessage(owed, delta))
            owed = None
            delta_total += mqtt_bytes(up, payload)
            result = answer(cloud, cloud_marks, SyncMessage(None, delta), now_ms=lambda: now[0])
            cloud, cloud_marks = result.document, result.marks
            if result.reply is not None:
                delta_total += mqtt_bytes(down, encode_message(result.reply))
                if result.reply.ack is not None:
                    marks = acknowledge(marks, result.reply.ack)
                if result.reply.delta is not None:
                    got = receive(doc, PeerMarks(), result.reply.delta)
                    doc, owed = got.document, got.ack
            pending = False
        if what == "end":
            break
        now[0] = start + at
        old = document_view(doc)
        if what == "brightness":
            state = state.model_copy(update={"brightness": rng.randint(5, 255)})
        elif what == "power":
            state = state.model_copy(update={"power": not state.power})
        elif what == "scene":
            state = state.model_copy(update={"scene": rng.choice(presets).scene, "preset": None})
        elif what in ("preset", "schedule"):
            p = rng.choice(presets)
            state = state.model_copy(update={"scene": p.scene, "preset": p.id})
        elif what == "edit-preset":
            presets[0] = presets[0].model_copy(update={"name": "Renamed"})
        else:
            settings = Settings.model_validate({"name": "Hall", "output": {"gamma": 2.0}})
        new = from_models(state, settings, presets, playlists, schedules)
        batch = changes(old, new)
        if batch:
            doc = doc.record(batch, clock.tick())
            if not pending:
                pending, window_end = True, now[0] + BATCH_MS
    assert cloud.values() == doc.values(), "the bench's replicas diverged"
    sample = {
        "at": 1_717_400_000_000,
        "uptime_s": 86400.123,
        "fps": 59.98,
        "target_fps": 60,
        "dropped_frames": 12,
        "estimated_ma": 1834.5,
        "power_limited": 0,
        "commands": 412,
        "errors": 3,
        "sync_refused": 0,
    }
    telemetry = 1440 * mqtt_bytes("lightbox/box-0123456789/telemetry", encode_telemetry([sample]))
    return delta_total, full, telemetry


# -- throughput -------------------------------------------------------------------------------
#
# Three kinds of process (multiprocessing, spawn): this one prepares the database and the
# broker; ``workers`` cloud sync worker processes (what is measured: each a SyncWorker with
# its own broker connection and database pool, as ``lightbox cloud run --sync-workers N``
# starts them); and one load generator process simulating the devices, so the generator's
# CPU is not charged to the worker.


def _load_proc(
    host: str,
    port: int,
    user: str,
    password: str,
    devices: int,
    paced_s: float,
    rate: int,
    out: Any,
) -> None:
    out.put(aio.run(_load(host, port, user, password, devices, paced_s, rate)))
    if os.environ.get("BENCH_DEBUG"):
        print(f"load generator: {time.process_time():.1f} s CPU", file=sys.stderr)


async def _load(
    host: str, port: int, user: str, password: str, devices: int, paced_s: float, rate: int
) -> tuple[float, float, float, float]:
    """The simulated devices: two bursts (one delta per device), then ``rate``/s paced."""
    ids = [f"bench-{i:05d}" for i in range(devices)]
    tops: dict[str, Timestamp | None] = dict.fromkeys(ids)
    base = int(time.time() * 1000)
    seq = [0]

    def delta_for(device_id: str) -> bytes:
        seq[0] += 1
        ts = Timestamp(base + seq[0] // 50, seq[0] % 50, DEVICE)
        regs = {"state.brightness": Register(seq[0] % 256, ts)}
        if tops[device_id] is None:
            regs["state.power"] = Register(True, ts)
        payload = encode_message(SyncMessage(None, Delta(DEVICE, tops[device_id], ts, regs)))
        tops[device_id] = ts
        return payload

    sent_at: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)
    latencies: list[float] = []
    acked = [0]
    done = asyncio.Event()
    want = [0]

    async def listen(client: aiomqtt.Client) -> None:
        async for m in client.messages:
            device_id = m.topic.value.split("/")[1]
            queue = sent_at.get(device_id)
            if queue:
                latencies.append((time.perf_counter() - queue.popleft()) * 1000)
            acked[0] += 1
            if acked[0] >= want[0]:
                done.set()

    def client(name: str) -> aiomqtt.Client:
        made = aiomqtt.Client(
            host,
            port,
            username=user,
            password=password,
            identifier=f"bench-{name}-{uuid.uuid4().hex[:6]}",
            max_queued_incoming_messages=0,
            max_inflight_messages=1000,
        )
        made.pending_calls_threshold = 100_000  # hundreds waiting for a PUBACK is the point
        return made

    publishers = [client(f"pub{k}") for k in range(PUBLISHERS)]
    async with client("sub") as sub, contextlib.AsyncExitStack() as stack:
        for p in publishers:
            await stack.enter_async_context(p)
        await sub.subscribe("lightbox/+/sync/down", qos=1)
        reader = asyncio.create_task(listen(sub))

        async def burst() -> float:
            acked[0], want[0] = 0, devices
            done.clear()
            payloads = [(up_topic(i), delta_for(i)) for i in ids]
            start = time.perf_counter()

            async def share(k: int) -> None:
                mine = payloads[k::PUBLISHERS]
                for n in range(0, len(mine), 32):
                    await asyncio.gather(
                        *(publishers[k].publish(t, b, qos=1) for t, b in mine[n : n + 32])
                    )

            await asyncio.gather(*(share(k) for k in range(PUBLISHERS)))
            await asyncio.wait_for(done.wait(), 120)
            return devices / (time.perf_counter() - start)

        await burst()  # first sync of every device: creates its row
        rate_burst = await burst()
        # paced: `rate` deltas a second, each device at most once in flight
        latencies.clear()
        total = int(rate * paced_s)
        acked[0], want[0] = 0, total
        done.clear()
        inflight: set[asyncio.Task[None]] = set()
        start = time.perf_counter()
        for n in range(total):
            device_id = ids[n % devices]
            target = start + n / rate
            delay = target - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sent_at[device_id].append(time.perf_counter())
            # not awaited one by one: the generator must not wait a PUBACK round trip per
            # delta (that alone capped it near 1,400/s), spread over the publishers
            client_n = publishers[n % PUBLISHERS]
            inflight.add(
                asyncio.create_task(
                    client_n.publish(up_topic(device_id), delta_for(device_id), qos=1)
                )
            )
            if len(inflight) >= 256:
                finished, inflight = await asyncio.wait(
                    inflight, return_when=asyncio.FIRST_COMPLETED
                )
                for task in finished:
                    task.result()
        if inflight:
            await asyncio.gather(*inflight)
        await asyncio.wait_for(done.wait(), 120)
        paced_rate = total / (time.perf_counter() - start)
        reader.cancel()
    latencies.sort()
    p50 = latencies[len(latencies) // 2]
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return rate_burst, paced_rate, p50, p99


async def _prepare(schema: str, devices: int) -> None:
    admin = create_engine(DATABASE_URL)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    await admin.dispose()
    engine = create_engine(DATABASE_URL, schema=schema)
    await upgrade(engine)
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await conn.execute(
            insert(Device),
            [
                {
                    "id": f"bench-{i:05d}",
                    "name": f"bench-{i:05d}",
                    "version": "0.1.0",
                    "hardware": "bench",
                    "registered_at": now,
                    "online": True,
                    "registration_secret_hash": "x" * 64,
                }
                for i in range(devices)
            ],
        )
    await engine.dispose()


async def _drop(schema: str) -> None:
    admin = create_engine(DATABASE_URL)
    async with admin.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    await admin.dispose()


def _cpu_s(pid: int) -> float:
    """CPU time (user + system) a live process has used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def throughput(
    devices: int, paced_s: float, rate: int, workers: int
) -> tuple[float, float, float, float]:
    """(updates/s in a burst, paced updates/s, p50 ms, p99 ms at ``rate``)."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    ctx = multiprocessing.get_context("spawn")
    tmp = tempfile.TemporaryDirectory()
    broker = LocalMosquitto(Path(tmp.name))
    broker.start()
    pool = SyncWorkerPool(
        WorkerSpec(
            database_url=DATABASE_URL,
            mqtt_url=f"mqtt://{quote(broker.cloud_username, safe='')}:"
            f"{quote(broker.cloud_password, safe='')}@{broker.host}:{broker.port}",
            instance_id="bench",
            partitions=int(os.environ.get("BENCH_PARTITIONS", "1")),
            batch=int(os.environ.get("BENCH_BATCH", "256")),
            pool_size=10,
            schema=schema,
            log_level="info" if os.environ.get("BENCH_DEBUG") else "warning",
        ),
        workers,
    )
    try:
        asyncio.run(_prepare(schema, devices))
        asyncio.run(pool.start())
        out = ctx.Queue()
        load = ctx.Process(
            target=_load_proc,
            args=(
                broker.host,
                broker.port,
                broker.cloud_username,
                broker.cloud_password,
                devices,
                paced_s,
                rate,
                out,
            ),
        )
        cpu_before = sum(_cpu_s(pid) for pid in pool.pids)
        load.start()
        result: tuple[float, float, float, float] = out.get(timeout=600)
        load.join(10)
        used = sum(_cpu_s(pid) for pid in pool.pids) - cpu_before
        merged = 2 * devices + int(rate * paced_s)  # two bursts and the paced run
        print(
            f"sync worker CPU: {used:.1f} s for {merged} updates, "
            f"{used / merged * 1e6:.0f} us per update (all worker processes)"
        )
        return result
    finally:
        asyncio.run(pool.stop())
        broker.stop()
        tmp.cleanup()
        asyncio.run(_drop(schema))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="under a minute")
    parser.add_argument("--devices", type=int, default=None, help="10,000 (--quick: 2,000)")
    parser.add_argument("--rate", type=int, default=2_000, help="paced deltas per second")
    parser.add_argument(
        "--sync-workers", type=int, default=1, help="worker processes of the cloud instance"
    )
    args = parser.parse_args()
    print(describe())
    delta, full, telemetry = bytes_per_day()
    pct = 100 * delta / full
    print(f"bytes per device per day: delta {delta} B, full {full} B ({pct:.1f}%)")
    print(f"telemetry (separately): {telemetry} B per day at one sample a minute")
    devices = args.devices or (2_000 if args.quick else 10_000)
    paced_s = 3.0 if args.quick else 10.0
    workers = args.sync_workers
    rate, paced, p50, p99 = throughput(devices, paced_s, args.rate, workers)
    print(
        f"one cloud instance ({workers} sync worker process{'es' if workers > 1 else ''}, "
        f"load generator in its own process), {devices} devices: burst {rate:.0f} updates/s"
    )
    print(
        f"offered {args.rate}/s for {paced_s:.0f} s: {paced:.0f} updates/s achieved, "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms"
    )
    print(f"sync: delta {pct:.1f}% of full, {rate:.0f} updates/s, p99 {p99:.0f} ms")


if __name__ == "__main__":
    main()
