"""The sync worker of one cloud instance.

:class:`SyncWorker` subscribes, through a shared subscription, to every device's
``lightbox/+/sync/up`` and ``lightbox/+/telemetry`` (``$share/lightbox-cloud/...``: each
message goes to one instance of the group). A message is queued on one of ``partitions``
worker tasks chosen by device id, so one device's messages are merged in order on this
instance while different devices are merged in parallel; a partition task takes the
messages waiting in its queue (up to ``batch``) and merges them in ONE transaction (group
commit, :meth:`~lightbox.cloud.sync.repo.SyncRepo.merge_many`); the row lock
(:class:`~lightbox.cloud.sync.repo.SyncRepo`) orders them across instances. The reply
(ack and cloud delta) goes to ``lightbox/<id>/sync/down`` after the commit.

A sweep every ``sweep_s`` sends the cloud edits made through the API
(``pending_down``), taking rows with ``FOR UPDATE SKIP LOCKED`` so that instances share it.

The worker has a broker connection of its own (the cloud service client), so the sync
load never delays presence or the command relay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import aiomqtt
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lightbox.cloud.broker.connection import BrokerConnection, NotConnected, shared
from lightbox.cloud.sync.repo import SyncRepo, _utcnow
from lightbox.protocol.topics import PREFIX
from lightbox.sync import SyncError
from lightbox.sync.messages import (
    SyncMessage,
    decode_message,
    decode_telemetry,
    device_of,
    down_topic,
    encode_message,
)

__all__ = ["SyncWorker", "WorkerStats"]

logger = logging.getLogger(__name__)

_Job = tuple[str, str, bytes, float]  # kind, device id, payload, received at (perf_counter)


@dataclass
class WorkerStats:
    merged: int = 0
    replies: int = 0
    telemetry: int = 0
    dropped: int = 0
    batches: int = 0
    """Group commits (``merged / batches``: messages per transaction)."""
    latencies_ms: list[float] = field(default_factory=list)
    keep_latencies: bool = False


class SyncWorker:
    """Merges device deltas and stores telemetry; :meth:`start` / :meth:`stop`."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        mqtt_url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        tls_context: ssl.SSLContext | None = None,
        partitions: int = 1,
        batch: int = 256,
        sweep_s: float = 1.0,
        prefix: str = PREFIX,
        clock: Callable[[], datetime] = _utcnow,
        instance_id: str | None = None,
    ) -> None:
        self.repo = SyncRepo(sessionmaker, clock=clock, keep_connections=True)
        self.instance_id = instance_id or uuid.uuid4().hex[:12]
        self.connection = BrokerConnection(
            mqtt_url,
            username,
            password,
            client_id=f"lightbox-sync-{self.instance_id}-{uuid.uuid4().hex[:6]}"[:128],
            tls_context=tls_context,
            mqtt5=False,  # nothing here needs 5.0, whose packets cost more to decode
        )
        self._prefix = prefix
        self.connection.subscribe(shared(f"{prefix}/+/sync/up"), self._on_sync, name="sync-up")
        self.connection.subscribe(
            shared(f"{prefix}/+/telemetry"), self._on_telemetry, name="telemetry"
        )
        self._queues: list[asyncio.Queue[_Job]] = [asyncio.Queue() for _ in range(partitions)]
        self._sweep_s = sweep_s
        self._batch = max(1, batch)
        self._tasks: list[asyncio.Task[None]] = []
        self._kick = asyncio.Event()
        self._resend = False
        self.connection.on_connect(self._reconnected)
        self.stats = WorkerStats()

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self, *, wait_connected: float | None = None) -> None:
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._work(q), name=f"sync-worker-{i}")
                for i, q in enumerate(self._queues)
            ]
            self._tasks.append(asyncio.create_task(self._sweeper(), name="sync-sweep"))
            self._tasks.append(asyncio.create_task(self.connection.run(), name="sync-broker"))
        if wait_connected is not None:
            await self.connection.wait_connected(wait_connected)

    async def stop(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        await self.connection.stop(timeout)
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.repo.close()

    def kick(self) -> None:
        """Run the sweep now (after an API edit on this instance)."""
        self._kick.set()

    def _reconnected(self) -> None:
        # Replies are queued without waiting for their PUBACK: those still queued when a
        # connection died are gone. On every (re)connect the cloud sends each device what
        # it has not acknowledged (docs/sync.md: each side resends from the last
        # acknowledged point on reconnect).
        self._resend = True
        self._kick.set()

    # -- messages -----------------------------------------------------------------------------

    def _enqueue(self, kind: str, message: aiomqtt.Message) -> None:
        device_id = device_of(message.topic.value, self._prefix)
        payload = message.payload
        if device_id is None or not isinstance(payload, bytes):
            self.stats.dropped += 1
            return
        queue = self._queues[zlib.crc32(device_id.encode()) % len(self._queues)]
        queue.put_nowait((kind, device_id, payload, time.perf_counter()))

    def _on_sync(self, message: aiomqtt.Message) -> None:
        self._enqueue("sync", message)

    def _on_telemetry(self, message: aiomqtt.Message) -> None:
        self._enqueue("telemetry", message)

    async def _work(self, queue: asyncio.Queue[_Job]) -> None:
        while True:
            jobs = [await queue.get()]
            while len(jobs) < self._batch and not queue.empty():
                jobs.append(queue.get_nowait())
            syncs = [job for job in jobs if job[0] == "sync"]
            try:
                if syncs:
                    await self._sync(syncs)
            except Exception:
                logger.exception("a batch of %d sync messages failed", len(syncs))
                if len(syncs) > 1:  # one bad message must not cost the others: one by one
                    for job in syncs:
                        try:
                            await self._sync([job])
                        except Exception:
                            self.stats.dropped += 1
                            logger.exception("device %s: sync message failed", job[1])
                else:
                    self.stats.dropped += 1
            for kind, device_id, payload, _ in jobs:
                if kind == "sync":
                    continue
                try:
                    await self._telemetry(device_id, payload)
                except Exception:
                    self.stats.dropped += 1
                    logger.exception("device %s: telemetry message failed", device_id)

    async def _sync(self, jobs: list[_Job]) -> None:
        """One group commit for the batch, then the replies (after the commit)."""
        batch: list[tuple[str, SyncMessage]] = []
        started: list[float] = []
        for _, device_id, payload, at in jobs:
            try:
                batch.append((device_id, decode_message(payload)))
                started.append(at)
            except SyncError as err:
                self.stats.dropped += 1
                logger.warning("device %s: bad sync message dropped: %s", device_id, err)
        results = await self.repo.merge_many(batch)
        self.stats.batches += 1
        for (device_id, _), result in zip(batch, results, strict=True):
            if result is None:
                self.stats.dropped += 1
                continue
            self.stats.merged += 1
            if result.reply is not None:
                await self._reply(device_id, encode_message(result.reply))
        if self.stats.keep_latencies:
            now = time.perf_counter()
            self.stats.latencies_ms.extend((now - at) * 1000 for at in started)

    async def _reply(self, device_id: str, payload: bytes) -> None:
        """Queue a reply without waiting for its PUBACK: the next batch need not wait.

        A reply lost with the connection costs nothing: the device sends its delta again
        until it is acknowledged, and the cloud's own changes wait in ``pending_down``
        (rewound here when the reply cannot even be queued).
        """
        try:
            self.connection.publish_nowait(down_topic(device_id, self._prefix), payload, qos=1)
            self.stats.replies += 1
        except NotConnected as err:
            logger.warning("device %s: sync reply not sent (%s); will resend", device_id, err)
            await self.repo.rewind(device_id)

    async def _send(self, device_id: str, payload: bytes) -> None:
        try:
            await self.connection.publish(down_topic(device_id, self._prefix), payload, qos=1)
            self.stats.replies += 1
        except NotConnected as err:
            logger.warning("device %s: sync reply not sent (%s); will resend", device_id, err)
            await self.repo.rewind(device_id)

    async def _telemetry(self, device_id: str, payload: bytes) -> None:
        try:
            samples = decode_telemetry(payload)
        except SyncError as err:
            self.stats.dropped += 1
            logger.warning("device %s: bad telemetry dropped: %s", device_id, err)
            return
        self.stats.telemetry += await self.repo.add_telemetry(device_id, samples)

    async def _sweeper(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), self._sweep_s)
            self._kick.clear()
            if not self.connection.connected:
                continue
            try:
                if self._resend:
                    self._resend = False
                    await self.repo.rewind_unacknowledged()
                for item in await self.repo.pending():
                    await self._send(item.device_id, encode_message(item.message))
            except Exception:
                logger.exception("sync sweep failed")
