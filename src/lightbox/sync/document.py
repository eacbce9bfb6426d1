"""The synced document: a map of keys to last-writer-wins registers.

A key is either a field path (``"state.brightness"``, ``"settings.output.gamma"``) or a
collection entry (``"presets/evening-glow"``, see :func:`entry_key`). Each key holds one
:class:`Register`: a JSON value (or :data:`TOMBSTONE` for a deleted collection entry) and
the :class:`~lightbox.sync.clock.Timestamp` of the edit that wrote it. Of two registers for
the same key the one with the greater timestamp wins (:func:`wins`); an exact timestamp tie
(only possible between corrupt replicas) is broken by the tombstone, then by canonical
JSON, so that merge stays deterministic.

:meth:`Document.merge` is the join of a semilattice: commutative, associative and
idempotent, so replicas that have seen the same registers, in any order and any number of
times, hold the same document. ``top`` is the greatest timestamp ever merged; it survives
the garbage collection of tombstones and seeds the clock after a restart.

A :class:`Document` is immutable: every operation returns a new one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from lightbox.sync.clock import Timestamp, latest

JsonValue: TypeAlias = Any
"""A value as ``json.loads`` returns it (dict, list, str, int, float, bool, None)."""

COLLECTIONS: Final = ("presets", "playlists", "schedules")


class Tombstone:
    """The value of a deleted collection entry (one instance: :data:`TOMBSTONE`)."""

    _instance: Tombstone | None = None

    def __new__(cls) -> Tombstone:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "TOMBSTONE"

    def __reduce__(self) -> str:
        return "TOMBSTONE"


TOMBSTONE: Final = Tombstone()


def entry_key(collection: str, item_id: str) -> str:
    """``entry_key("presets", "evening")`` → ``"presets/evening"``."""
    if collection not in COLLECTIONS:
        raise ValueError(f"unknown collection {collection!r}; one of {COLLECTIONS}")
    return f"{collection}/{item_id}"


def split_entry_key(key: str) -> tuple[str, str] | None:
    """``"presets/evening"`` → ``("presets", "evening")``; a field path → ``None``."""
    collection, sep, item_id = key.partition("/")
    if sep and collection in COLLECTIONS and item_id:
        return collection, item_id
    return None


def canonical(value: JsonValue) -> str:
    """Canonical JSON: sorted keys, no spaces (used for ties and equality of values)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Register:
    """One key's value and the timestamp of the edit that wrote it."""

    value: JsonValue | Tombstone
    ts: Timestamp

    @property
    def deleted(self) -> bool:
        return self.value is TOMBSTONE

    def rank(self) -> tuple[Timestamp, bool, str]:
        """The total order of registers: timestamp, then tombstone, then canonical JSON."""
        return (self.ts, self.deleted, "" if self.deleted else canonical(self.value))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Register):
            return NotImplemented
        return self.rank() == other.rank()

    def __hash__(self) -> int:
        return hash(self.rank())


def wins(a: Register, b: Register) -> bool:
    """True when ``a`` beats ``b`` (strictly): the later edit wins."""
    return a.rank() > b.rank()


@dataclass(frozen=True, slots=True)
class Change:
    """One key's new value, as the service sees it (``TOMBSTONE``: entry deleted)."""

    key: str
    value: JsonValue | Tombstone


def _visible_change(old: Register | None, new: Register) -> bool:
    if old is None:
        return not new.deleted
    if old.deleted or new.deleted:
        return old.deleted != new.deleted
    return canonical(old.value) != canonical(new.value)


class Document:
    """An immutable map of key → :class:`Register`, plus ``top`` (greatest timestamp)."""

    __slots__ = ("_registers", "_top")

    def __init__(
        self, registers: Mapping[str, Register] | None = None, top: Timestamp | None = None
    ) -> None:
        regs = dict(registers or {})
        self._registers = regs
        self._top = latest(top, *(r.ts for r in regs.values()))

    # -- reading -------------------------------------------------------------------------

    @property
    def top(self) -> Timestamp | None:
        return self._top

    @property
    def registers(self) -> Mapping[str, Register]:
        return self._registers.copy()

    def get(self, key: str) -> Register | None:
        return self._registers.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._registers

    def __iter__(self) -> Iterator[str]:
        return iter(self._registers)

    def __len__(self) -> int:
        return len(self._registers)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Document):
            return NotImplemented
        return self._top == other._top and self._registers == other._registers

    def __hash__(self) -> int:
        return hash((self._top, frozenset(self._registers.items())))

    def __repr__(self) -> str:
        return f"Document({len(self._registers)} registers, top={self._top})"

    def values(self) -> dict[str, JsonValue]:
        """Every live key and its value (tombstones left out): what the service shows."""
        return {k: r.value for k, r in self._registers.items() if not r.deleted}

    def tombstones(self) -> dict[str, Timestamp]:
        return {k: r.ts for k, r in self._registers.items() if r.deleted}

    # -- writing -------------------------------------------------------------------------

    def _with(self, incoming: Iterable[tuple[str, Register]]) -> tuple[Document, list[str]]:
        regs = dict(self._registers)
        changed: list[str] = []
        top = self._top
        for key, reg in incoming:
            top = latest(top, reg.ts)
            old = regs.get(key)
            if old is None or wins(reg, old):
                regs[key] = reg
                if _visible_change(old, reg):
                    changed.append(key)
        return Document(regs, top), changed

    def set(self, key: str, value: JsonValue, ts: Timestamp) -> Document:
        """Write ``value`` at ``key`` as of ``ts`` (ignored if the key holds a later edit)."""
        return self._with([(key, Register(value, ts))])[0]

    def delete(self, collection: str, item_id: str, ts: Timestamp) -> Document:
        """Delete a collection entry: a tombstone as of ``ts``."""
        return self._with([(entry_key(collection, item_id), Register(TOMBSTONE, ts))])[0]

    def record(self, changes: Iterable[Change], ts: Timestamp) -> Document:
        """Write a local edit: every change stamped with the same timestamp ``ts``.

        One timestamp per edit makes the edit win or lose as a whole against a concurrent
        one, so fields changed together (a scene and the preset it came from) stay together.
        """
        return self._with((c.key, Register(c.value, ts)) for c in changes)[0]

    def apply(self, registers: Mapping[str, Register]) -> tuple[Document, list[str]]:
        """Merge received registers; also return the keys whose visible value changed."""
        return self._with(registers.items())

    def merge(self, other: Document) -> Document:
        """The join of two documents (commutative, associative, idempotent)."""
        merged = self._with(other._registers.items())[0]
        return Document(merged._registers, latest(merged._top, other._top))

    def without(self, keys: Iterable[str]) -> Document:
        """The document with ``keys`` removed (``top`` unchanged): tombstone collection."""
        drop = set(keys)
        return Document({k: r for k, r in self._registers.items() if k not in drop}, self._top)
