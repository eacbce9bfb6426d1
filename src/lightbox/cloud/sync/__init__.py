"""The cloud's side of device sync and telemetry (docs/sync.md, "Transport").

- :class:`~lightbox.cloud.sync.worker.SyncWorker`: one per cloud instance; merges device
  deltas into PostgreSQL under row locks, answers with acks and cloud deltas, stores
  telemetry.
- :class:`~lightbox.cloud.sync.repo.SyncRepo`: the ``device_sync`` and ``telemetry``
  tables (also used by the API routes).
- :mod:`~lightbox.cloud.sync.merge`: the pure part of the cloud's answer.
- :class:`~lightbox.cloud.sync.processes.SyncWorkerPool`: ``sync_workers`` worker
  processes for one instance.
- :func:`start_worker`: start the worker (or the worker processes) for a
  :class:`~lightbox.cloud.services.CloudServices` (closed with it).
"""

from __future__ import annotations

import logging
from urllib.parse import unquote, urlsplit

from lightbox.cloud.services import CloudServices
from lightbox.cloud.sync.processes import SyncWorkerPool, WorkerSpec
from lightbox.cloud.sync.repo import Synced, SyncRepo
from lightbox.cloud.sync.worker import SyncWorker, WorkerStats

__all__ = [
    "SyncRepo",
    "SyncWorker",
    "SyncWorkerPool",
    "Synced",
    "WorkerSpec",
    "WorkerStats",
    "start_worker",
]

logger = logging.getLogger(__name__)


async def start_worker(services: CloudServices) -> SyncWorker | SyncWorkerPool | None:
    """Start this instance's sync worker when ``mqtt_url`` is configured (else ``None``);
    it stops when ``services`` close. With ``sync_workers`` > 1 (PostgreSQL only), that many
    worker processes instead, each with its own broker connection and database pool."""
    config = services.config
    url = config.mqtt_url
    if url is None:
        return None
    if config.sync_workers > 1:
        if config.database_url.startswith("sqlite"):
            logger.warning("sync_workers=%d needs PostgreSQL; one worker", config.sync_workers)
        else:
            pool = SyncWorkerPool(
                WorkerSpec(
                    database_url=config.database_url,
                    mqtt_url=url,
                    instance_id=config.instance_id,
                    partitions=config.sync_partitions,
                    pool_size=config.database_pool_size,
                    log_level=config.log_level,
                    log_format=config.log_format,
                ),
                config.sync_workers,
            )
            await pool.start()
            services.exit_stack.push_async_callback(pool.stop)
            return pool
    parts = urlsplit(url)
    worker = SyncWorker(
        services.sessionmaker,
        url,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        clock=services.clock,
        instance_id=config.instance_id,
        partitions=config.sync_partitions,
    )
    await worker.start()
    services.exit_stack.push_async_callback(worker.stop)
    return worker
