"""The sync agent's durable part: the document and the marks, in the LightBox's SQLite file.

The document *is* the outbox: every register not yet acknowledged by the cloud is in it
and goes out in the next delta (docs/sync.md, "no log"). One row per register in
``sync_registers`` (edge store migration 2) and four keys in ``meta``:

``sync.top``       the document's top (greatest timestamp ever merged; seeds the clock)
``sync.received``  every cloud register up to here is merged
``sync.acked``     the cloud has merged every device register up to here
``sync.applying``  "1" while merged cloud changes may not have reached the service yet

:meth:`SyncOutbox.save` writes the changed registers, the dropped tombstones and the marks
in **one** transaction (``synchronous=FULL``): what the agent acknowledges or sends after
it returns survives ``kill -9`` and power loss.

The outbox uses a connection of its own to the store's file (WAL: readers never wait; a
write waits for the service's at most ``busy_timeout``), always from one thread at a time.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from lightbox.edge.store.db import connect
from lightbox.edge.store.errors import translate
from lightbox.sync import TOMBSTONE, Document, PeerMarks, Register, Timestamp, decode, encode

__all__ = ["Loaded", "SyncOutbox"]

_TOP = "sync.top"
_RECEIVED = "sync.received"
_ACKED = "sync.acked"
_APPLYING = "sync.applying"


@dataclass(frozen=True, slots=True)
class Loaded:
    document: Document
    marks: PeerMarks
    applying: bool


class SyncOutbox:
    """Load and save the sync document and marks (blocking: call from a worker thread)."""

    def __init__(self, path: Path, *, busy_timeout: float = 5.0) -> None:
        self._path = path
        self._busy_timeout = busy_timeout
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = connect(self._path, self._busy_timeout)
        return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def load(self) -> Loaded:
        with self._lock:
            conn = self._connection()
            try:
                rows = conn.execute("SELECT key, ts, deleted, value FROM sync_registers").fetchall()
                meta = dict(
                    conn.execute(
                        "SELECT key, value FROM meta WHERE key IN (?, ?, ?, ?)",
                        (_TOP, _RECEIVED, _ACKED, _APPLYING),
                    ).fetchall()
                )
            except sqlite3.Error as err:
                raise translate(err, "loading the sync document", self._path) from err
        registers = {
            key: Register(TOMBSTONE if deleted else json.loads(value), decode(ts))
            for key, ts, deleted, value in rows
        }
        top = decode(meta[_TOP]) if meta.get(_TOP) else None
        marks = PeerMarks.from_dict({"received": meta.get(_RECEIVED), "acked": meta.get(_ACKED)})
        return Loaded(Document(registers, top), marks, meta.get(_APPLYING) == "1")

    def save(
        self,
        *,
        registers: Mapping[str, Register] | None = None,
        dropped: Iterable[str] = (),
        top: Timestamp | None = None,
        marks: PeerMarks | None = None,
        applying: bool | None = None,
    ) -> None:
        """Write what changed, in one durable transaction."""
        meta: list[tuple[str, str]] = []
        if top is not None:
            meta.append((_TOP, encode(top)))
        if marks is not None:
            stored = marks.to_dict()
            meta.append((_RECEIVED, stored["received"] or ""))
            meta.append((_ACKED, stored["acked"] or ""))
        if applying is not None:
            meta.append((_APPLYING, "1" if applying else "0"))
        rows = [
            (key, encode(reg.ts), 1 if reg.deleted else 0, None if reg.deleted else _dumps(reg))
            for key, reg in (registers or {}).items()
        ]
        gone = [(key,) for key in dropped]
        with self._lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    conn.executemany(
                        "INSERT OR REPLACE INTO sync_registers (key, ts, deleted, value) "
                        "VALUES (?, ?, ?, ?)",
                        rows,
                    )
                    conn.executemany("DELETE FROM sync_registers WHERE key = ?", gone)
                    conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", meta)
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as err:
                raise translate(err, "saving the sync document", self._path) from err


def _dumps(reg: Register) -> str:
    return json.dumps(reg.value, separators=(",", ":"), ensure_ascii=False)
