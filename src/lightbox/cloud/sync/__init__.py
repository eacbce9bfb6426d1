"""The cloud's side of device sync and telemetry (docs/sync.md, "Transport").

- :class:`~lightbox.cloud.sync.worker.SyncWorker`: one per cloud instance; merges device
  deltas into PostgreSQL under row locks, answers with acks and cloud deltas, stores
  telemetry.
- :class:`~lightbox.cloud.sync.repo.SyncRepo`: the ``device_sync`` and ``telemetry``
  tables (also used by the API routes).
- :mod:`~lightbox.cloud.sync.merge`: the pure part of the cloud's answer.
- :func:`start_worker`: start a worker for a :class:`~lightbox.cloud.services.CloudServices`
  (closed with it).
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from lightbox.cloud.services import CloudServices
from lightbox.cloud.sync.repo import Synced, SyncRepo
from lightbox.cloud.sync.worker import SyncWorker, WorkerStats

__all__ = ["SyncRepo", "SyncWorker", "Synced", "WorkerStats", "start_worker"]


async def start_worker(services: CloudServices) -> SyncWorker | None:
    """Start this instance's sync worker when ``mqtt_url`` is configured (else ``None``);
    it stops when ``services`` close."""
    url = services.config.mqtt_url
    if url is None:
        return None
    parts = urlsplit(url)
    worker = SyncWorker(
        services.sessionmaker,
        url,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        clock=services.clock,
        instance_id=services.config.instance_id,
    )
    await worker.start()
    services.exit_stack.push_async_callback(worker.stop)
    return worker
