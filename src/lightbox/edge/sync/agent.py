"""The LightBox's sync agent: keeps its state, library and settings in step with the cloud.

:class:`SyncAgent` sits beside the :class:`~lightbox.edge.service.LightBoxService` and
talks to the cloud over the cloud link's MQTT connection (it is a
:class:`~lightbox.edge.mqtt.link.LinkExtension`: one connection per device). It follows the
transport rules of docs/sync.md:

- **Local edits.** Every service event ("state", "presets", ...) wakes a *reconcile*: the
  service's synced view is compared with what the document shows
  (:func:`lightbox.sync.changes`) and the differences are recorded as **one** edit with one
  ``hlc.tick()``, committed to SQLite (:class:`~lightbox.edge.sync.outbox.SyncOutbox`).
  The document is the outbox: a LightBox offline for days keeps every edit. A crash
  between the service's commit and the reconcile loses nothing: the reconcile at start
  finds the difference.
- **Sending.** Every ``batch_s`` seconds the agent sends, at QoS 1 on
  ``lightbox/<id>/sync/up``, the delta since its ``sent`` mark (``outgoing``; a burst of
  brightness changes is one register by then) together with the ack it owes the cloud.
  On every (re)connect it rewinds to the last acknowledged point and says so (an ack with
  ``gap``, which makes the cloud rewind too); an ack overdue by ``ack_timeout_s`` rewinds.
- **Receiving.** A message on ``lightbox/<id>/sync/down`` is merged with
  ``receive(..., clock=hlc)`` (a :class:`~lightbox.sync.ClockDriftError` drops the delta
  unacknowledged), pending local edits having been recorded first, and document and marks
  are saved in one transaction, with a durable "applying" flag, before the message is
  acknowledged. The merged values then go **through the service** (``origin="sync"``):
  ``preset.save``, ``settings.set``, ``set``... so the same rules, rendering and storage
  apply as for any other edit. No echo: the reconcile after applying compares with the
  document, which already holds those values, so only what the service refused or
  normalised becomes a new device edit, and the cloud learns the device's answer. A
  refusal is logged and counted (:attr:`SyncAgent.refused`), never retried in a loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from lightbox.edge.events import Event
from lightbox.edge.mqtt.link import Publish
from lightbox.edge.service import LightBoxService
from lightbox.edge.store import Store
from lightbox.edge.sync.apply import plan
from lightbox.edge.sync.outbox import SyncOutbox
from lightbox.protocol import Command, PresetApplyCommand, SetCommand
from lightbox.protocol.topics import PREFIX, DeviceTopics
from lightbox.sync import (
    CLOUD,
    DEVICE,
    Ack,
    ClockDriftError,
    Document,
    Hlc,
    PeerMarks,
    Register,
    SyncError,
    SyncView,
    Timestamp,
    acknowledge,
    changes,
    collect_garbage,
    document_view,
    from_models,
    outgoing,
    receive,
    rewind,
)
from lightbox.sync.document import canonical
from lightbox.sync.messages import (
    SyncMessage,
    decode_message,
    down_topic,
    encode_message,
    up_topic,
)

__all__ = ["ORIGIN", "SyncAgent", "SyncStatus"]

logger = logging.getLogger(__name__)

ORIGIN = "sync"
"""The origin of the commands the agent hands to the service."""
SYNCED_TOPICS = frozenset({"state", "presets", "playlists", "schedules", "settings"})
BASELINE = Timestamp(0, 0, DEVICE)
"""The timestamp of what a LightBox held before it ever synced: any real edit beats it."""


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class SyncStatus:
    """What the local API can show about sync."""

    connected: bool
    pending: int
    """Device registers the cloud has not acknowledged yet."""
    last_ack_at: datetime | None
    refused: int
    last_error: str | None


class SyncAgent:
    """Syncs one LightBox with the cloud; :meth:`start` it, hand it to the CloudLink."""

    def __init__(
        self,
        store: Store,
        service: LightBoxService,
        hlc: Hlc | None = None,
        *,
        batch_s: float = 3.0,
        ack_timeout_s: float = 30.0,
        limit: int = 500,
        prefix: str = PREFIX,
        now_ms: Callable[[], int] = _now_ms,
    ) -> None:
        self.device_id = service.device_id
        self._store = store
        self._service = service
        self._hlc = hlc
        self._now_ms = now_ms
        self.batch_s = batch_s
        self.ack_timeout_s = ack_timeout_s
        self._limit = limit
        self._up = up_topic(self.device_id, prefix)
        self._down = down_topic(self.device_id, prefix)
        self._outbox = SyncOutbox(store.path)
        self._doc = Document()
        self._marks = PeerMarks()
        self._lock = asyncio.Lock()
        self._dirty = asyncio.Event()
        self._wake = asyncio.Event()
        self._publish: Publish | None = None
        self._hello = False
        self._ack_owed: Ack | None = None
        self._acked_sent: Timestamp | None = None
        self._sent_at: float | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._unsubscribe: Callable[[], None] | None = None
        self._log = logging.LoggerAdapter(logger, {"device_id": self.device_id})
        self.refused = 0
        """Merged cloud values the service refused (reported in telemetry)."""
        self.dropped = 0
        """Sync messages dropped: undecodable, or from a clock too far ahead."""
        self.sent_bytes = 0
        self.received_bytes = 0
        self.last_error: str | None = None
        self.last_ack_at: datetime | None = None

    # -- state --------------------------------------------------------------------------

    @property
    def document(self) -> Document:
        return self._doc

    @property
    def marks(self) -> PeerMarks:
        return self._marks

    @property
    def hlc(self) -> Hlc:
        assert self._hlc is not None, "start() the agent first"
        return self._hlc

    def status(self) -> SyncStatus:
        acked = self._marks.acked
        pending = sum(
            1
            for reg in self._doc.registers.values()
            if reg.ts.origin == DEVICE and (acked is None or reg.ts > acked)
        )
        return SyncStatus(
            self._publish is not None, pending, self.last_ack_at, self.refused, self.last_error
        )

    # -- life cycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Load the document, finish an interrupted apply, record what changed meanwhile."""
        loaded = await asyncio.to_thread(self._outbox.load)
        self._doc, self._marks = loaded.document, loaded.marks
        self._restore_clock(loaded.document.top)
        async with self._lock:
            if loaded.applying:
                self._log.info("device %s: finishing an interrupted sync apply", self.device_id)
                await self._apply()
            await self._reconcile(baseline=not self._doc.registers and self._doc.top is None)
        self._unsubscribe = self._service.events.on_event(self._on_event)
        self._tasks = [
            asyncio.create_task(self._reconciler(), name="sync-reconcile"),
            asyncio.create_task(self._sender(), name="sync-send"),
        ]

    async def stop(self) -> None:
        """Record what is pending, then stop (the document is already durable)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            async with self._lock:
                await self._reconcile()
        await asyncio.to_thread(self._outbox.close)

    def _restore_clock(self, top: Timestamp | None) -> None:
        if self._hlc is None:
            # The device's clock may not be NTP-synchronised: adopt the cloud's time
            # instead of refusing it (docs/sync.md, "A Pi without a real-time clock").
            self._hlc = Hlc(DEVICE, self._now_ms, last=top, max_drift_ms=None)
        elif top is not None and self._hlc.last < top:
            try:
                self._hlc.observe(top)
            except ClockDriftError:
                self._hlc = Hlc(DEVICE, self._now_ms, last=top, max_drift_ms=self._hlc.max_drift_ms)

    # -- LinkExtension ------------------------------------------------------------------

    def topics(self, topics: DeviceTopics) -> list[str]:
        self._up, self._down = f"{topics.base}/sync/up", f"{topics.base}/sync/down"
        return [self._down]

    def attached(self, publish: Publish | None) -> None:
        self._publish = publish
        self._marks = rewind(self._marks)
        self._sent_at = None
        if publish is not None:
            self._hello = True
            self._wake.set()

    async def handle(self, topic: str, payload: bytes) -> None:
        """A message from the cloud: merge, store, then apply through the service."""
        self.received_bytes += len(payload)
        try:
            message = decode_message(payload)
        except SyncError as err:
            self.dropped += 1
            self._log.warning("device %s: bad sync message dropped: %s", self.device_id, err)
            return
        try:
            async with self._lock:
                await self._receive(message)
        except Exception as err:  # never end the link's handler; the cloud resends
            self.last_error = repr(err)
            self._log.exception("device %s: sync message failed", self.device_id)

    # -- receiving ----------------------------------------------------------------------

    async def _receive(self, message: SyncMessage) -> None:
        await self._reconcile()  # pending local edits are older than what follows
        marks, doc = self._marks, self._doc
        if message.ack is not None:
            marks = acknowledge(marks, message.ack)
            self.last_ack_at = datetime.now(UTC)
            if marks.acked is not None and marks.sent is not None and marks.acked >= marks.sent:
                self._sent_at = None
            if message.ack.gap:
                self._sent_at = None
                self._wake.set()
        changed: list[str] = []
        written: dict[str, Register] = {}
        if message.delta is not None:
            delta = message.delta
            if delta.origin != CLOUD:
                self.dropped += 1
                self._log.warning(
                    "device %s: delta from %r, not the cloud: dropped", self.device_id, delta.origin
                )
            else:
                try:
                    got = receive(doc, marks, delta, clock=self.hlc)
                except ClockDriftError as err:
                    self.dropped += 1
                    self.last_error = str(err)
                    self._log.warning("device %s: cloud delta refused: %s", self.device_id, err)
                else:
                    doc, marks, changed = got.document, got.marks, got.changed
                    written = {k: r for k, r in delta.registers.items() if doc.get(k) == r}
                    self._ack_owed = got.ack
                    if got.ack.gap or delta.registers or got.ack.upto != self._acked_sent:
                        self._wake.set()
        doc, dropped = collect_garbage(doc, marks)
        written = {k: r for k, r in written.items() if k not in dropped}
        await asyncio.to_thread(
            self._outbox.save,
            registers=written,
            dropped=dropped,
            top=doc.top,
            marks=marks,
            applying=True if changed else None,
        )
        self._doc, self._marks = doc, marks
        if changed:
            await self._apply()

    async def _current_view(self) -> SyncView:
        store, service = self._store, self._service

        def read() -> SyncView:
            return from_models(
                service.state,
                service.settings,
                store.list_presets(),
                store.list_playlists(),
                store.list_schedules(),
            )

        return await asyncio.to_thread(read)

    async def _run(self, command: Command) -> bool:
        result = await self._service.execute(command, origin=ORIGIN)
        if result.ok:
            return True
        self.refused += 1
        error = result.error
        self.last_error = f"{command.type}: {error.message if error else 'refused'}"
        self._log.warning(
            "device %s: the LightBox refused a synced change (%s); keeping its own value",
            self.device_id,
            self.last_error,
        )
        return False

    async def _apply(self) -> None:
        """Hand the document's values to the service; then record what it made of them."""
        target = document_view(self._doc)
        current = await self._current_view()
        steps = plan(target, current, self._service.state)
        for key, why in sorted(steps.skipped.items()):
            self.refused += 1
            self.last_error = f"{key}: {why}"
            self._log.warning(
                "device %s: synced value of %s is not valid here (%s)", self.device_id, key, why
            )
        for command in steps.commands:
            await self._run(command)
        await self._apply_state(steps.state, target)
        await asyncio.to_thread(self._outbox.save, applying=False)
        await self._reconcile()

    async def _apply_state(self, fields: dict[str, object], target: SyncView) -> None:
        want = target["state"]
        if "scene" in fields or "preset" in fields:
            preset_id = want.get("preset")
            preset = (
                await asyncio.to_thread(self._store.get_preset, preset_id)
                if isinstance(preset_id, str)
                else None
            )
            scene = want.get("scene")
            if preset is not None and canonical(
                preset.scene.model_dump(mode="json", by_alias=True)
            ) == canonical(scene):
                await self._run(PresetApplyCommand(preset=preset.id))
            elif "scene" in fields:
                await self._run(SetCommand.model_validate({"scene": scene}))
        state = self._service.state
        update: dict[str, object] = {}
        if "power" in want and want["power"] != state.power:
            update["power"] = want["power"]
        if "brightness" in want and want["brightness"] != state.brightness:
            update["brightness"] = want["brightness"]
        if update:
            await self._run(SetCommand.model_validate(update))

    # -- local edits --------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        if event.topic in SYNCED_TOPICS:
            self._dirty.set()

    async def _reconciler(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                async with self._lock:
                    await self._reconcile()
            except Exception as err:
                self.last_error = repr(err)
                self._log.exception("device %s: recording a local edit failed", self.device_id)
                await asyncio.sleep(1.0)
                self._dirty.set()

    async def _reconcile(self, *, baseline: bool = False) -> None:
        """Record what the service has and the document does not, as one edit (lock held)."""
        self._dirty.clear()
        current = await self._current_view()
        edits = changes(document_view(self._doc), current)
        if not edits:
            return
        ts = BASELINE if baseline else self.hlc.tick()
        doc = self._doc.record(edits, ts)
        written = {c.key: reg for c in edits if (reg := doc.get(c.key)) is not None}
        await asyncio.to_thread(self._outbox.save, registers=written, top=doc.top)
        self._doc = doc

    # -- sending ------------------------------------------------------------------------

    async def _sender(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.batch_s)
            self._wake.clear()
            try:
                await self.flush()
            except Exception as err:
                self.last_error = repr(err)
                self._log.exception("device %s: sync send failed", self.device_id)

    async def flush(self) -> bool:
        """Send what is due now (if connected); True when a message went out."""
        publish = self._publish
        if publish is None:
            return False
        async with self._lock:
            loop = asyncio.get_running_loop()
            marks = self._marks
            hello, self._hello = self._hello, False
            if (
                self._sent_at is not None
                and marks.sent != marks.acked
                and loop.time() - self._sent_at > self.ack_timeout_s
            ):
                self._log.info("device %s: sync ack overdue; resending", self.device_id)
                marks = rewind(marks)
                self._sent_at = None
            before = marks.sent
            delta, after = outgoing(self._doc, marks, origin=DEVICE, peer=CLOUD, limit=self._limit)
            moved = delta.upto != before
            send_delta = bool(delta.registers) or hello or (moved and bool(self._doc.tombstones()))
            ack = self._ack_owed
            if hello:
                ack = Ack(self._marks.received, gap=True)
            if not send_delta and ack is None:
                return False
            message = SyncMessage(ack, delta if send_delta else None)
            if send_delta:
                self._marks = after
            self._ack_owed = None
        payload = encode_message(message)
        try:
            await publish(self._up, payload)
        except Exception as err:
            self._log.info("device %s: sync send failed (%s); will resend", self.device_id, err)
            async with self._lock:
                self._marks = rewind(self._marks)
                if message.ack is not None and self._ack_owed is None:
                    self._ack_owed = message.ack
                self._hello = self._hello or hello
            return False
        self.sent_bytes += len(payload)
        if message.ack is not None:
            self._acked_sent = message.ack.upto
        if send_delta and self._sent_at is None:
            self._sent_at = asyncio.get_running_loop().time()
        if len(delta.registers) and delta.upto != self._doc.top:
            self._wake.set()  # a chunked catch-up: send the next chunk at once
        return True
