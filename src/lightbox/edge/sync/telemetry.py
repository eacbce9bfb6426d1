"""Telemetry from a LightBox to the cloud, batched.

:class:`TelemetryReporter` takes a sample every ``interval_s`` (default 60 s) from the
service (``info()``: uptime, fps, dropped frames, estimated current; its command and error
counters; the sync agent's refusals) and sends the samples it holds as one batch, QoS 1, on
``lightbox/<id>/telemetry`` over the cloud link's connection.

Offline, samples wait in a **bounded in-memory queue** (``max_samples``, default 1440: a
day at one a minute); when it is full the oldest go first. Telemetry is best-effort by
design: it is not in the SQLite outbox, so a restart loses the samples not yet sent (a
gap in the charts), never a state edit.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable

from lightbox.edge.mqtt.link import Publish
from lightbox.edge.service import LightBoxService
from lightbox.protocol.topics import DeviceTopics
from lightbox.sync.messages import encode_telemetry

__all__ = ["TelemetryReporter"]

logger = logging.getLogger(__name__)

Sample = dict[str, float | int]
BATCH_MAX = 500


class TelemetryReporter:
    """Samples the service every ``interval_s``; a LinkExtension that only publishes."""

    def __init__(
        self,
        service: LightBoxService,
        *,
        interval_s: float = 60.0,
        max_samples: int = 1440,
        refused: Callable[[], int] = lambda: 0,
        now_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self._service = service
        self.interval_s = interval_s
        self._queue: collections.deque[Sample] = collections.deque(maxlen=max_samples)
        self._refused = refused
        self._now_ms = now_ms
        self._topic = f"lightbox/{service.device_id}/telemetry"
        self._publish: Publish | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.sent_samples = 0
        self.sent_bytes = 0

    @property
    def queued(self) -> int:
        return len(self._queue)

    def topics(self, topics: DeviceTopics) -> list[str]:
        self._topic = f"{topics.base}/telemetry"
        return []

    async def handle(self, topic: str, payload: bytes) -> None:  # pragma: no cover
        return None

    def attached(self, publish: Publish | None) -> None:
        self._publish = publish
        if publish is not None:
            self._wake.set()

    def sample(self) -> Sample:
        """One sample now (also queued)."""
        info = self._service.info()
        sample: Sample = {
            "at": self._now_ms(),
            "uptime_s": info.uptime_s,
            "fps": info.fps,
            "target_fps": info.target_fps,
            "dropped_frames": info.dropped_frames,
            "estimated_ma": info.estimated_ma,
            "power_limited": int(info.power_limited),
            "commands": self._service.commands_handled,
            "errors": self._service.command_errors,
            "sync_refused": self._refused(),
        }
        self._queue.append(sample)
        return sample

    async def flush(self) -> int:
        """Send the queued samples (if connected); how many went out."""
        sent = 0
        while self._queue and self._publish is not None:
            batch = list(self._queue)[:BATCH_MAX]
            payload = encode_telemetry(batch)
            try:
                await self._publish(self._topic, payload)
            except Exception as err:
                logger.info("telemetry not sent (%s); kept for later", err)
                break
            for _ in batch:
                self._queue.popleft()
            sent += len(batch)
            self.sent_samples += len(batch)
            self.sent_bytes += len(payload)
        return sent

    async def run(self) -> None:
        """Sample and send forever (a task owned by the runtime)."""
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            if loop.time() >= next_at:
                self.sample()
                next_at = loop.time() + self.interval_s
            await self.flush()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, next_at - loop.time()))

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="telemetry")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
