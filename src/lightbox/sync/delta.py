"""Deltas, acknowledgements and the per-peer marks that drive them.

Each replica keeps, per peer, three :class:`PeerMarks` (no log of operations):

``received``
    every register of the peer with a timestamp ``<= received`` has been merged here
    (advanced only by a delta that starts at or before it: a delta after a lost one is
    merged, but does not move the mark).
``acked``
    the peer said it has merged every register of ours ``<= acked``.
``sent``
    what we last sent (optimistic; not persisted: after a restart or a reconnect it falls
    back to ``acked`` with :func:`rewind`).

A :class:`Delta` from a replica holds *every* register of its document whose timestamp lies
in ``(since, upto]`` (minus, optionally, the registers the peer wrote itself). The receiver
answers with an :class:`Ack` of its ``received`` mark. Because merge is idempotent and
commutative, duplicated, reordered and re-sent deltas are harmless; a lost delta shows as
an ack with ``gap`` set and the sender rewinds to ``acked``.

Why the marks are enough (no log): a replica's clock is greater than every timestamp it has
merged (``receive`` observes ``upto``), so its new edits are always newer than anything
the peer has acknowledged, and registers it received from the peer are known to the peer.

Tombstones: a tombstone at ``t`` is dropped (:func:`collect_garbage`) once ``t <= acked``
(the peer has it) and ``t <= received``. The second condition makes late duplicates safe:
:func:`receive` ignores every incoming register at or below ``received`` (it is already
merged, or superseded), so an old upsert of the deleted entry still in flight cannot bring
it back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from lightbox.sync.clock import Hlc, Timestamp, decode, encode, latest
from lightbox.sync.document import TOMBSTONE, Document, JsonValue, Register
from lightbox.sync.errors import WireFormatError

WIRE_VERSION = 1


@dataclass(frozen=True, slots=True)
class Delta:
    """The registers of ``origin``'s document with timestamps in ``(since, upto]``.

    ``since=None`` means from the beginning (a full state). ``upto`` is the sender's
    ``Document.top`` (or the cut point of a limited delta); ``None`` only for an empty
    document.
    """

    origin: str
    since: Timestamp | None
    upto: Timestamp | None
    registers: Mapping[str, Register] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        return not self.registers

    def follows(self, mark: Timestamp | None) -> bool:
        """True when this delta leaves no gap after ``mark`` (it may overlap it)."""
        return self.since is None or (mark is not None and self.since <= mark)

    def newest(self) -> Timestamp | None:
        return latest(self.upto, *(r.ts for r in self.registers.values()))


@dataclass(frozen=True, slots=True)
class Ack:
    """ "I have merged every register of yours up to ``upto``"; ``gap``: a delta was missed."""

    upto: Timestamp | None
    gap: bool = False


@dataclass(frozen=True, slots=True)
class PeerMarks:
    """What this replica knows of one peer (persist ``received`` and ``acked``)."""

    received: Timestamp | None = None
    acked: Timestamp | None = None
    sent: Timestamp | None = None

    def to_dict(self) -> dict[str, str | None]:
        """The persistent part, as strings (``sent`` is deliberately left out)."""
        return {
            "received": encode(self.received) if self.received else None,
            "acked": encode(self.acked) if self.acked else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, str | None]) -> PeerMarks:
        received = data.get("received")
        acked = data.get("acked")
        acked_ts = decode(acked) if acked else None
        return cls(decode(received) if received else None, acked_ts, acked_ts)


@dataclass(frozen=True, slots=True)
class Received:
    """What :func:`receive` returns: the new document and marks, what changed, the ack."""

    document: Document
    marks: PeerMarks
    changed: list[str]
    ack: Ack


def delta_since(
    doc: Document,
    since: Timestamp | None,
    *,
    origin: str,
    limit: int | None = None,
    exclude_origin: str | None = None,
) -> Delta:
    """The registers of ``doc`` newer than ``since``, oldest first.

    ``limit`` caps the number of registers (for payload limits); the delta then ends at the
    last timestamp it holds complete (registers of one edit share a timestamp and are never
    split), and the next call continues from there. ``exclude_origin`` leaves out
    registers written by that origin, i.e. the peer's own edits, which it already has.
    """
    fresh = sorted(
        (
            (reg.ts, key, reg)
            for key, reg in doc.registers.items()
            if since is None or reg.ts > since
        ),
        key=lambda item: (item[0], item[1]),
    )
    upto = latest(since, doc.top)
    if limit is not None and len(fresh) > max(limit, 1):
        cut = max(limit, 1)
        while cut < len(fresh) and fresh[cut][0] == fresh[cut - 1][0]:
            cut += 1
        if cut < len(fresh):
            upto = fresh[cut - 1][0]
            fresh = fresh[:cut]
    registers = {key: reg for ts, key, reg in fresh if ts.origin != exclude_origin}
    return Delta(origin, since, upto, registers)


def coalesce(deltas: Iterable[Delta]) -> Delta:
    """Several deltas from one sender as one: per key the later register wins.

    The result covers ``(min since, upto]`` where ``upto`` is the end of the chain of
    deltas that follow each other without a gap; registers of deltas after a gap are kept
    (merging them is harmless) but do not extend the range.
    """
    items = sorted(deltas, key=lambda d: (d.since is not None, d.since or _ZERO))
    if not items:
        raise ValueError("coalesce needs at least one delta")
    origins = {d.origin for d in items}
    if len(origins) != 1:
        raise ValueError(f"coalesce takes deltas of one sender, got {sorted(origins)}")
    since, upto = items[0].since, latest(items[0].since, items[0].upto)
    for d in items[1:]:
        if not d.follows(upto):
            break
        upto = latest(upto, d.upto)
    merged = Document()
    for d in items:
        merged = merged.apply(d.registers)[0]
    return Delta(items[0].origin, since, upto, merged.registers)


_ZERO = Timestamp(0, 0, "a")


def outgoing(
    doc: Document,
    marks: PeerMarks,
    *,
    origin: str,
    peer: str | None = None,
    limit: int | None = None,
) -> tuple[Delta, PeerMarks]:
    """The next delta to send to the peer (from ``marks.sent``), and the marks after it.

    Send it if it has registers or if its ``upto`` moved (an empty delta still lets the
    peer's ``received`` mark advance, which tombstone collection needs).
    """
    delta = delta_since(doc, marks.sent, origin=origin, limit=limit, exclude_origin=peer)
    return delta, replace(marks, sent=latest(marks.sent, delta.upto))


def receive(doc: Document, marks: PeerMarks, delta: Delta, *, clock: Hlc | None = None) -> Received:
    """Merge a delta from the peer; idempotent, any order.

    With ``clock``, the delta is first checked for clock drift (``ClockDriftError``:
    refuse it whole, change nothing, do not ack) and the clock then observes it, so that
    later local edits are newer than everything merged. Persist the returned document and
    marks together, *then* send the ack.
    """
    newest = delta.newest()
    if clock is not None and newest is not None:
        clock.check(newest)
    fresh = {
        key: reg
        for key, reg in delta.registers.items()
        if marks.received is None or reg.ts > marks.received
    }
    new_doc, changed = doc.apply(fresh)
    if delta.upto is not None:
        new_doc = Document(new_doc.registers, latest(new_doc.top, delta.upto))
    if clock is not None and newest is not None:
        clock.observe(newest)
    contiguous = delta.follows(marks.received)
    received = latest(marks.received, delta.upto) if contiguous else marks.received
    new_marks = replace(marks, received=received)
    return Received(new_doc, new_marks, changed, Ack(received, gap=not contiguous))


def acknowledge(marks: PeerMarks, ack: Ack) -> PeerMarks:
    """Take in the peer's ack (acks may come late or twice: the mark only grows)."""
    acked = latest(marks.acked, ack.upto)
    sent = acked if ack.gap else latest(marks.sent, acked)
    return replace(marks, acked=acked, sent=sent)


def rewind(marks: PeerMarks) -> PeerMarks:
    """Resend from the last acknowledged point (on reconnect, or when an ack is overdue)."""
    return replace(marks, sent=marks.acked)


def collect_garbage(doc: Document, marks: PeerMarks) -> tuple[Document, list[str]]:
    """Drop the tombstones both sides are done with; also return their keys."""
    if marks.acked is None or marks.received is None:
        return doc, []
    horizon = min(marks.acked, marks.received)
    dead = [key for key, ts in doc.tombstones().items() if ts <= horizon]
    return (doc.without(dead) if dead else doc), dead


# -- wire encoding ----------------------------------------------------------------------
#
# {"v":1,"o":"device","s":<since>,"u":<upto>,"b":<base wall ms>,"e":[entry...]}
# entry: [key, ts, value] (a value) or [key, ts] (a tombstone)
# ts: wall - b                   when counter == 0 and origin == "o"
#     [wall - b, counter]        when origin == "o"
#     [wall - b, counter, origin] otherwise
# "s"/"u": encoded timestamps or null; "b" and "e" are left out when there are no entries.


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def encode_delta(delta: Delta) -> bytes:
    """Compact JSON bytes for a delta (see the format above and docs/sync.md)."""
    out: dict[str, Any] = {
        "v": WIRE_VERSION,
        "o": delta.origin,
        "s": encode(delta.since) if delta.since else None,
        "u": encode(delta.upto) if delta.upto else None,
    }
    if delta.registers:
        base = min(r.ts.wall_ms for r in delta.registers.values())
        entries: list[list[JsonValue]] = []
        for key, reg in sorted(delta.registers.items(), key=lambda kv: (kv[1].ts, kv[0])):
            ts = reg.ts
            offset = ts.wall_ms - base
            stamp: JsonValue
            if ts.origin != delta.origin:
                stamp = [offset, ts.counter, ts.origin]
            elif ts.counter:
                stamp = [offset, ts.counter]
            else:
                stamp = offset
            entries.append([key, stamp] if reg.deleted else [key, stamp, reg.value])
        out["b"] = base
        out["e"] = entries
    return _dumps(out)


def _ts_or_none(value: Any, name: str) -> Timestamp | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise WireFormatError(f"{name!r} must be an encoded timestamp or null")
    return decode(value)


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise WireFormatError(f"{what} must be a non-negative integer, got {value!r}")
    return value


def _stamp(raw: Any, base: int, origin: str) -> Timestamp:
    if isinstance(raw, list):
        if len(raw) not in (2, 3):
            raise WireFormatError(f"timestamp {raw!r} must be [offset, counter(, origin)]")
        offset, counter = _int(raw[0], "offset"), _int(raw[1], "counter")
        if len(raw) == 3:
            if not isinstance(raw[2], str):
                raise WireFormatError(f"origin in {raw!r} must be a string")
            origin = raw[2]
    else:
        offset, counter = _int(raw, "offset"), 0
    try:
        return Timestamp(base + offset, counter, origin)
    except ValueError as err:
        raise WireFormatError(str(err)) from err


def decode_delta(payload: bytes | str) -> Delta:
    """The inverse of :func:`encode_delta`; :class:`WireFormatError` on a bad payload."""
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as err:
        raise WireFormatError(f"delta is not JSON: {err}") from err
    if not isinstance(data, dict) or data.get("v") != WIRE_VERSION:
        raise WireFormatError(f'delta must be an object with "v": {WIRE_VERSION}')
    origin = data.get("o")
    if not isinstance(origin, str):
        raise WireFormatError('delta needs its sender in "o"')
    since, upto = _ts_or_none(data.get("s"), "s"), _ts_or_none(data.get("u"), "u")
    registers: dict[str, Register] = {}
    entries = data.get("e", [])
    if not isinstance(entries, list):
        raise WireFormatError('"e" must be a list of entries')
    base = _int(data.get("b", 0), '"b"')
    for entry in entries:
        if not isinstance(entry, list) or len(entry) not in (2, 3) or not isinstance(entry[0], str):
            raise WireFormatError(f"entry {entry!r} must be [key, ts] or [key, ts, value]")
        ts = _stamp(entry[1], base, origin)
        value = entry[2] if len(entry) == 3 else TOMBSTONE
        reg = Register(value, ts)
        old = registers.get(entry[0])
        if old is None or reg.rank() > old.rank():
            registers[entry[0]] = reg
    try:
        return Delta(origin, since, upto, registers)
    except ValueError as err:  # pragma: no cover - Delta validates nothing today
        raise WireFormatError(str(err)) from err


def encode_ack(ack: Ack) -> bytes:
    """``{"v":1,"a":"<upto>"}``, with ``"g":1`` when a delta was missed."""
    out: dict[str, Any] = {"v": WIRE_VERSION, "a": encode(ack.upto) if ack.upto else None}
    if ack.gap:
        out["g"] = 1
    return _dumps(out)


def decode_ack(payload: bytes | str) -> Ack:
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as err:
        raise WireFormatError(f"ack is not JSON: {err}") from err
    if not isinstance(data, dict) or data.get("v") != WIRE_VERSION or "a" not in data:
        raise WireFormatError(f'ack must be an object with "v": {WIRE_VERSION} and "a"')
    gap = data.get("g", 0)
    if gap not in (0, 1) or isinstance(gap, bool):
        raise WireFormatError('"g" must be 0 or 1')
    return Ack(_ts_or_none(data["a"], "a"), gap=bool(gap))


def snapshot(doc: Document, *, origin: str) -> bytes:
    """The whole document as one payload (for storage or a first full sync)."""
    return encode_delta(delta_since(doc, None, origin=origin))


def restore(payload: bytes | str) -> Document:
    """A document from :func:`snapshot` (or from any full delta)."""
    delta = decode_delta(payload)
    return Document(delta.registers, delta.upto)
