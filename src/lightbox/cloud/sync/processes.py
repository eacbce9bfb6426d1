"""Several sync worker processes for one cloud instance (``sync_workers``).

The merge is CPU work in Python (decode, CRDT merge, encode): one process tops out near
one core. :class:`SyncWorkerPool` starts ``count`` processes (``multiprocessing`` spawn),
each running its own :class:`~lightbox.cloud.sync.worker.SyncWorker` with its own broker
connection and database pool. They join the same shared subscription
(``$share/lightbox-cloud/...``), so the broker spreads device messages over them like over
instances; correctness across them rests on the row lock, as across instances.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from lightbox import aio

__all__ = ["SyncWorkerPool", "WorkerSpec"]

logger = logging.getLogger(__name__)

READY_TIMEOUT_S = 20.0


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """What a worker process needs (picklable: no engine, no secrets beyond the URLs)."""

    database_url: str
    mqtt_url: str
    instance_id: str
    partitions: int = 1
    batch: int = 256
    pool_size: int = 10
    schema: str | None = None
    log_level: str = "info"
    log_format: str = "console"


def _run(spec: WorkerSpec, index: int, ready: Any, stop: Any) -> None:
    """A worker process: one SyncWorker until ``stop`` is set."""
    from lightbox import logs

    logs.configure(spec.log_level, spec.log_format, instance=f"{spec.instance_id}/sync{index}")
    aio.run(_serve(spec, index, ready, stop))


async def _serve(spec: WorkerSpec, index: int, ready: Any, stop: Any) -> None:
    from lightbox.cloud.db import create_engine, create_sessionmaker
    from lightbox.cloud.sync.worker import SyncWorker

    engine = create_engine(spec.database_url, schema=spec.schema, pool_size=spec.pool_size)
    parts = urlsplit(spec.mqtt_url)
    worker = SyncWorker(
        create_sessionmaker(engine),
        spec.mqtt_url,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        partitions=spec.partitions,
        batch=spec.batch,
        instance_id=f"{spec.instance_id}-{index}",
    )
    try:
        await worker.start()
        try:  # ready once subscribed (the worker keeps retrying if the broker is down)
            await worker.connection.wait_connected(READY_TIMEOUT_S)
        except TimeoutError:
            logger.warning("sync worker %s: broker not reachable yet; retrying", index)
        aio.freeze_heap()
        ready.release()
        await asyncio.to_thread(stop.wait)
    finally:
        await worker.stop()
        await engine.dispose()
        stats = worker.stats
        logger.info(
            "sync worker %s: merged %d messages in %d transactions, %d dropped",
            index,
            stats.merged,
            stats.batches,
            stats.dropped,
        )


class SyncWorkerPool:
    """``count`` worker processes; :meth:`start` / :meth:`stop` (from the parent)."""

    def __init__(self, spec: WorkerSpec, count: int) -> None:
        self.spec = spec
        self.count = count
        self._ctx = multiprocessing.get_context("spawn")
        self._stop = self._ctx.Event()
        self._ready = self._ctx.Semaphore(0)
        self._procs: list[Any] = []

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs if p.pid is not None]

    async def start(self, *, wait_s: float | None = 60.0) -> None:
        """Start the processes; with ``wait_s``, wait until each has its worker running."""
        for index in range(self.count):
            proc = self._ctx.Process(
                target=_run,
                args=(self.spec, index, self._ready, self._stop),
                name=f"lightbox-sync-{index}",
                daemon=True,
            )
            proc.start()
            self._procs.append(proc)
        if wait_s is not None:
            for _ in range(self.count):
                if not await asyncio.to_thread(self._ready.acquire, True, wait_s):
                    raise RuntimeError("a sync worker process did not start in time")

    async def stop(self, timeout: float = 15.0) -> None:  # noqa: ASYNC109
        """Ask every process to stop, wait, kill what is left."""
        self._stop.set()
        procs, self._procs = self._procs, []
        for proc in procs:
            await asyncio.to_thread(proc.join, timeout)
            if proc.is_alive():
                logger.warning("sync worker process %s did not stop; killed", proc.pid)
                proc.kill()
                await asyncio.to_thread(proc.join, 5)
