"""The cloud's half of the sync exchange, as pure functions (no database, no broker).

:func:`answer` takes the stored document and marks of one device and a message from it,
and returns the new document and marks and the reply to send (docs/sync.md, "Transport"):

- an ack from the device moves ``acked`` (``gap``: the device asks for everything since
  the last acknowledged point, which it does on every reconnect: ``sent`` rewinds);
- a delta is merged with ``receive(..., clock=hlc)`` and acknowledged; a
  :class:`~lightbox.sync.ClockDriftError` drops it unacknowledged and names the problem;
- tombstones both sides are done with are collected;
- the reply carries the ack and, when there is something to say, the cloud's own delta
  (registers the device has not been sent, or a moved end point while tombstones wait).

:func:`edit` applies an owner's partial view (``PATCH .../synced``) as one cloud edit.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lightbox.sync import (
    CLOUD,
    COLLECTIONS,
    DEVICE,
    Ack,
    ClockDriftError,
    Document,
    Hlc,
    PeerMarks,
    SyncView,
    acknowledge,
    changes,
    collect_garbage,
    document_view,
    outgoing,
    receive,
    to_models,
)
from lightbox.sync.messages import SyncMessage

__all__ = ["Answer", "answer", "apply_patch", "edit", "next_delta"]

DELTA_LIMIT = 500
"""Registers per delta (a big catch-up goes in chunks, never splitting one edit)."""


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class Answer:
    document: Document
    marks: PeerMarks
    reply: SyncMessage | None
    error: str | None = None
    merged: bool = False
    """True when a delta from the device was merged (the device synced)."""


def next_delta(
    doc: Document, marks: PeerMarks, *, force: bool = False
) -> tuple[SyncMessage | None, PeerMarks]:
    """The cloud's next delta to the device, if there is something to say."""
    before = marks.sent
    delta, after = outgoing(doc, marks, origin=CLOUD, peer=DEVICE, limit=DELTA_LIMIT)
    moved = delta.upto != before
    if delta.registers or force or (moved and doc.tombstones()):
        return SyncMessage(None, delta), after
    return None, marks


def answer(
    doc: Document,
    marks: PeerMarks,
    message: SyncMessage,
    *,
    now_ms: Callable[[], int] = _now_ms,
) -> Answer:
    error: str | None = None
    reply_ack: Ack | None = None
    hello = False
    merged = False
    if message.ack is not None:
        marks = acknowledge(marks, message.ack)
        hello = message.ack.gap
    if message.delta is not None:
        delta = message.delta
        if delta.origin != DEVICE:
            error = f"a delta from {delta.origin!r} on a device topic was dropped"
        else:
            clock = Hlc(CLOUD, now_ms, last=doc.top)
            try:
                got = receive(doc, marks, delta, clock=clock)
            except ClockDriftError as err:
                error = f"{err}; set the LightBox's clock (NTP) and it will sync again"
            else:
                doc, marks, reply_ack, merged = got.document, got.marks, got.ack, True
    doc, _ = collect_garbage(doc, marks)
    out, marks = next_delta(doc, marks, force=hello)
    delta_out = out.delta if out is not None else None
    reply = SyncMessage(reply_ack, delta_out) if reply_ack or delta_out else None
    return Answer(doc, marks, reply, error, merged)


def _merge_dict(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in patch.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge_dict(out[key], value)
        else:
            out[key] = value
    return out


def apply_patch(view: SyncView, patch: Mapping[str, Any]) -> SyncView:
    """``view`` with a partial view applied: fields replace (settings merge by sub-object),
    collection entries replace whole, an entry set to ``null`` is deleted."""
    state = patch.get("state") or {}
    settings = patch.get("settings") or {}
    new: dict[str, Any] = {
        "state": {**view["state"], **state},
        "settings": _merge_dict(view["settings"], settings),
    }
    for collection in COLLECTIONS:
        entries: dict[str, Any] = dict(view[collection])  # type: ignore[literal-required,unused-ignore]
        for item_id, body in (patch.get(collection) or {}).items():
            if body is None:
                entries.pop(item_id, None)
            else:
                entries[item_id] = body
        new[collection] = entries
    return SyncView(
        state=new["state"],
        settings=new["settings"],
        presets=new["presets"],
        playlists=new["playlists"],
        schedules=new["schedules"],
    )


def edit(
    doc: Document, patch: Mapping[str, Any], *, now_ms: Callable[[], int] = _now_ms
) -> tuple[Document, int]:
    """Apply an owner's partial view as one cloud edit: the new document and how many keys
    changed. Raises :class:`~lightbox.sync.SyncValidationError` if the result is invalid."""
    current = document_view(doc)
    new = apply_patch(current, patch)
    to_models(new)  # validates; raises SyncValidationError naming the keys
    edits = changes(current, new)
    if not edits:
        return doc, 0
    ts = Hlc(CLOUD, now_ms, last=doc.top, max_drift_ms=None).tick()
    return doc.record(edits, ts), len(edits)
