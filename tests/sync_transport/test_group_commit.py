"""``SyncRepo.merge_many``: one transaction for a batch of several devices' messages."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from lightbox.cloud.broker.local import LocalMosquitto
from lightbox.cloud.db import Device, create_engine, create_sessionmaker
from lightbox.cloud.db.migrate import upgrade
from lightbox.cloud.sync import SyncRepo, SyncWorkerPool, WorkerSpec
from lightbox.sync import DEVICE, Delta, Register, Timestamp
from lightbox.sync.messages import SyncMessage, decode_message, encode_message, up_topic
from tests.cloud.broker.helpers import cloud_client

pytestmark = pytest.mark.integration

BASE = 1_717_400_000_000


def delta(since: Timestamp | None, n: int, value: int) -> tuple[SyncMessage, Timestamp]:
    ts = Timestamp(BASE + n, 0, DEVICE)
    regs = {"state.brightness": Register(value, ts)}
    return SyncMessage(None, Delta(DEVICE, since, ts, regs)), ts


async def register(engine: AsyncEngine, ids: Iterable[str]) -> None:
    """Registered devices (the sync rows of unknown ones are never created)."""
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await conn.execute(
            insert(Device),
            [
                {
                    "id": i,
                    "name": i,
                    "version": "0.1.0",
                    "hardware": "test",
                    "registered_at": now,
                    "online": True,
                    "registration_secret_hash": "x" * 64,
                }
                for i in ids
            ],
        )


async def check(engine_url: str, schema: str | None) -> None:
    engine = create_engine(engine_url, schema=schema)
    try:
        if schema is None:
            await upgrade(engine)
        await register(engine, ("box-b", "box-a"))
        repo = SyncRepo(create_sessionmaker(engine))
        b1, t1 = delta(None, 1, 10)
        b2, t2 = delta(t1, 2, 20)
        a1, _ = delta(None, 3, 30)
        answers = await repo.merge_many(
            [("box-b", b1), ("nobody", a1), ("box-a", a1), ("box-b", b2)]
        )
        assert answers[1] is None  # unknown device: dropped, the batch goes on
        first, _, third, last = answers
        assert first is not None and third is not None and last is not None
        assert first.reply is not None and first.reply.ack is not None
        assert first.reply.ack.upto == t1
        assert last.reply is not None and last.reply.ack is not None
        assert last.reply.ack.upto == t2  # the device's second delta follows its first
        synced_b, synced_a = await repo.get("box-b"), await repo.get("box-a")
        assert synced_b is not None and synced_a is not None
        assert synced_b.document.values() == {"state.brightness": 20}
        assert synced_b.marks.received == t2
        assert synced_b.last_sync_at is not None
        assert synced_a.document.values() == {"state.brightness": 30}
        assert await repo.get("nobody") is None
        # the rows exist now: a second batch takes the lock-only path
        b3, t3 = delta(t2, 4, 40)
        (again,) = await repo.merge_many([("box-b", b3)])
        assert again is not None and again.reply is not None and again.reply.ack is not None
        assert again.reply.ack.upto == t3
    finally:
        await engine.dispose()


async def test_merge_many_postgresql(pg_url: str, schema: str) -> None:
    await check(pg_url, schema)


def test_merge_many_sqlite(tmp_path: Path) -> None:
    asyncio.run(check(f"sqlite+aiosqlite:///{tmp_path / 'cloud.db'}", None))


@pytest.mark.parametrize("keep", [False, True], ids=["pooled", "kept"])
async def test_merge_many_concurrent_batches_do_not_deadlock(
    pg_url: str, schema: str, keep: bool
) -> None:
    """Overlapping batches in opposite orders, at once: all merged, nothing lost."""
    engine = create_engine(pg_url, schema=schema, pool_size=8)
    try:
        ids = [f"box-{i:02d}" for i in range(12)]
        await register(engine, ids)
        repo = SyncRepo(create_sessionmaker(engine), keep_connections=keep)

        def batch(order: list[str], n: int) -> list[tuple[str, SyncMessage]]:
            ts = Timestamp(BASE + n, 0, DEVICE)
            msg = SyncMessage(None, Delta(DEVICE, None, ts, {f"state.k{n}": Register(n, ts)}))
            return [(i, msg) for i in order]

        results = await asyncio.wait_for(
            asyncio.gather(
                *(repo.merge_many(batch(ids if n % 2 else ids[::-1], n)) for n in range(1, 9))
            ),
            60,
        )
        assert all(r is not None for batch_ in results for r in batch_)
        for i in ids:
            synced = await repo.get(i)
            assert synced is not None
            # every batch merged under the row lock (a delta older than the received mark
            # is skipped by receive, as on the wire): the newest is there
            assert synced.marks.received == Timestamp(BASE + 8, 0, DEVICE)
            assert synced.document.values()["state.k8"] == 8
        await repo.close()
        assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        await engine.dispose()


async def test_kept_connection_is_reused_and_replaced_when_it_dies(
    pg_url: str, schema: str
) -> None:
    """The worker's repo keeps one connection between batches (no checkout, no ping);
    one that died is dropped and the next batch gets a fresh one; close() gives it back."""
    engine = create_engine(pg_url, schema=schema)
    try:
        await register(engine, ["box-k"])
        repo = SyncRepo(create_sessionmaker(engine), keep_connections=True)

        async def backend_of_kept() -> int:
            assert len(repo._idle) == 1
            raw = (await repo._idle[0].get_raw_connection()).driver_connection
            return int(raw.get_server_pid())

        ts = None
        for n in range(1, 4):
            msg, ts = delta(ts, n, n)
            (got,) = await repo.merge_many([("box-k", msg)])
            assert got is not None and got.merged
        first = await backend_of_kept()
        assert engine.pool.checkedout() == 1  # type: ignore[attr-defined]
        msg, ts = delta(ts, 4, 4)
        await repo.merge_many([("box-k", msg)])
        assert await backend_of_kept() == first  # the same session, no new checkout

        async with engine.connect() as admin:  # the connection dies under the repo
            await admin.exec_driver_sql(f"SELECT pg_terminate_backend({first})")
        msg5, t5 = delta(ts, 5, 5)
        with pytest.raises(Exception):  # noqa: B017 - whatever asyncpg raises
            await repo.merge_many([("box-k", msg5)])
        assert repo._idle == []  # dropped, not kept
        (got,) = await repo.merge_many([("box-k", msg5)])  # the device sends it again
        assert got is not None and got.reply is not None and got.reply.ack is not None
        assert got.reply.ack.upto == t5
        assert await backend_of_kept() != first
        synced = await repo.get("box-k")
        assert synced is not None and synced.document.values() == {"state.brightness": 5}
        await repo.close()
        assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        await engine.dispose()


@pytest.mark.parametrize("partitions", [1, 3])
async def test_worker_processes_answer(
    pg_url: str, schema: str, broker: LocalMosquitto, partitions: int
) -> None:
    """``sync_workers``: two worker processes on the shared subscription, both deltas of
    ten devices acknowledged, in order (whichever process and partition took them)."""
    engine = create_engine(pg_url, schema=schema)
    ids = [f"box-{i:02d}" for i in range(10)]
    try:
        await register(engine, ids)
    finally:
        await engine.dispose()
    user, password = quote(broker.cloud_username, safe=""), quote(broker.cloud_password, safe="")
    pool = SyncWorkerPool(
        WorkerSpec(
            database_url=pg_url,
            mqtt_url=f"mqtt://{user}:{password}@{broker.host}:{broker.port}",
            instance_id="test",
            schema=schema,
            pool_size=2,
            partitions=partitions,
        ),
        2,
    )
    await pool.start(wait_s=60)
    try:
        async with cloud_client(broker) as device_side:
            await device_side.subscribe("lightbox/+/sync/down", qos=1)
            first, t1 = delta(None, 1, 7)
            second, t2 = delta(t1, 2, 8)
            for message in (first, second):
                for i in ids:
                    await device_side.publish(up_topic(i), encode_message(message), qos=1)
            acked: dict[str, Timestamp] = {}
            async with asyncio.timeout(30):
                async for m in device_side.messages:
                    reply = decode_message(m.payload)
                    assert reply.ack is not None
                    device_id = m.topic.value.split("/")[1]
                    if device_id in acked:  # never an older point after a newer one
                        assert reply.ack.upto >= acked[device_id]
                    acked[device_id] = reply.ack.upto
                    if acked == dict.fromkeys(ids, t2):
                        break
    finally:
        await pool.stop()


async def test_unacknowledged_cloud_deltas_are_sent_again_after_a_reconnect(
    pg_url: str, schema: str
) -> None:
    """Replies go out without waiting for their PUBACK; after a reconnect the cloud sends
    every device again what it has not acknowledged."""
    engine = create_engine(pg_url, schema=schema)
    try:
        await register(engine, ("box-edited", "box-quiet"))
        repo = SyncRepo(create_sessionmaker(engine))
        first, _ = delta(None, 1, 10)
        await repo.merge_many([("box-edited", first), ("box-quiet", first)])
        await repo.edit("box-edited", {"state": {"brightness": 99}})  # an owner's edit
        (sent,) = await repo.pending()
        assert sent.device_id == "box-edited"
        assert await repo.pending() == []  # marked sent: not taken again
        # the reply was queued on a connection that then died: nobody acknowledged it
        assert await repo.rewind_unacknowledged() == 1  # box-quiet has nothing unacked
        (again,) = await repo.pending()
        assert again.device_id == "box-edited"
        assert again.message == sent.message
    finally:
        await engine.dispose()
