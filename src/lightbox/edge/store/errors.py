"""Errors raised by the LightBox store.

Exceptions (``lightbox.edge.store``)::

    StoreError            anything the store could not do: I/O error, closed store, misuse,
     │                    a database written by a newer LightBox
     ├── StoreCorrupt     the file is not a LightBox database, fails its integrity check,
     │                    or holds a row that no longer matches its model
     └── StoreBusy        another writer kept the database locked longer than busy_timeout

Errors from ``sqlite3`` never escape: they are translated here and chained with ``from``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

__all__ = ["StoreBusy", "StoreCorrupt", "StoreError", "translate"]


class StoreError(Exception):
    """The store could not do what was asked."""


class StoreCorrupt(StoreError):
    """The database file is damaged or is not a LightBox database."""


class StoreBusy(StoreError):
    """The database stayed locked by another writer for longer than busy_timeout."""


_CORRUPT = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})
_BUSY = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


def corrupt_message(path: Path, detail: str) -> str:
    return (
        f"the LightBox database {path} is corrupt ({detail}); restore it from a backup, "
        "or move it aside (with its -wal and -shm files) to start with an empty store"
    )


def translate(err: sqlite3.Error, doing: str, path: Path) -> StoreError:
    """The StoreError for ``err``, raised while ``doing`` something to the database at ``path``.

    Use as ``raise translate(err, "saving the state", path) from err``.
    """
    code = getattr(err, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    if primary in _CORRUPT:
        return StoreCorrupt(corrupt_message(path, f"{err} while {doing}"))
    if primary in _BUSY:
        return StoreBusy(
            f"the LightBox database {path} stayed locked by another writer while {doing}; "
            "try again (is a second LightBox service running on the same data dir?)"
        )
    return StoreError(f"database error while {doing} ({path}): {err}")
