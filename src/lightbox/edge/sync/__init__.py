"""The LightBox's side of cloud sync and telemetry (see docs/sync.md, "Transport").

- :class:`~lightbox.edge.sync.agent.SyncAgent`: local edits into the SQLite outbox,
  deltas and acks over the cloud broker, the cloud's changes applied through the service.
- :class:`~lightbox.edge.sync.telemetry.TelemetryReporter`: batched telemetry.
- :mod:`~lightbox.sync.messages`: the topics and payloads (shared with the cloud).

Both are :class:`~lightbox.edge.mqtt.link.LinkExtension` s: pass them to
``CloudLink(..., extensions=[agent, telemetry])`` and they share its one connection.
"""

from lightbox.edge.sync.agent import ORIGIN, SyncAgent, SyncStatus
from lightbox.edge.sync.outbox import SyncOutbox
from lightbox.edge.sync.telemetry import TelemetryReporter

__all__ = ["ORIGIN", "SyncAgent", "SyncOutbox", "SyncStatus", "TelemetryReporter"]
