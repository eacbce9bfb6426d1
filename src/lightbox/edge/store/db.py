"""Opening the SQLite database: connection settings, integrity check and migrations."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from lightbox.edge.store.errors import StoreCorrupt, StoreError, corrupt_message, translate
from lightbox.edge.store.files import fsync_dir
from lightbox.edge.store.migrations import MIGRATIONS

__all__ = ["SCHEMA_VERSION", "check_integrity", "connect", "migrate"]

SCHEMA_VERSION = len(MIGRATIONS)


def connect(path: Path, busy_timeout: float) -> sqlite3.Connection:
    """A new connection to ``path`` with the store's settings (WAL, synchronous=FULL, ...).

    The connection is in autocommit mode (``isolation_level=None``): transactions are opened
    explicitly with ``BEGIN IMMEDIATE``. It may be closed from another thread than the one
    that opened it (``check_same_thread=False``), but is only ever *used* by one thread.
    """
    try:
        conn = sqlite3.connect(
            path,
            timeout=busy_timeout,
            isolation_level=None,
            check_same_thread=False,
        )
    except sqlite3.Error as err:
        raise translate(err, "opening the database", path) from err
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(
                f"could not switch {path} to write-ahead logging (journal mode is {mode!r}); "
                "the data dir must be on a local file system that supports shared memory"
            )
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.Error as err:
        conn.close()
        raise translate(err, "opening the database", path) from err
    except BaseException:
        conn.close()
        raise
    return conn


def check_integrity(conn: sqlite3.Connection, path: Path) -> None:
    """Raise StoreCorrupt unless ``PRAGMA quick_check`` finds the database sound."""
    try:
        rows = conn.execute("PRAGMA quick_check").fetchall()
    except sqlite3.Error as err:
        raise translate(err, "checking integrity", path) from err
    problems = [str(row[0]) for row in rows if row[0] != "ok"]
    if problems:
        shown = "; ".join(problems[:3]) + (
            f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
        )
        raise StoreCorrupt(corrupt_message(path, f"integrity check failed: {shown}"))


def _user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, path: Path) -> int:
    """Apply the migrations the database lacks, each in its own transaction; the new version.

    Safe against a concurrent opener: the version is re-read inside each write transaction.
    """
    try:
        version = _user_version(conn)
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the LightBox database {path} has schema version {version}, newer than this "
                f"LightBox knows ({SCHEMA_VERSION}); upgrade LightBox or restore an older backup"
            )
        while version < SCHEMA_VERSION:
            conn.execute("BEGIN IMMEDIATE")
            try:
                version = _user_version(conn)
                if version < SCHEMA_VERSION:
                    for statement in MIGRATIONS[version]:
                        conn.execute(statement)
                    version += 1
                    conn.execute(f"PRAGMA user_version = {version}")
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
    except sqlite3.Error as err:
        raise translate(err, f"migrating the schema to version {SCHEMA_VERSION}", path) from err
    return version


def create_parent(path: Path) -> None:
    """Create the directory of ``path`` (and its parents) if missing, durably."""
    parent = path.parent
    if parent.is_dir():
        return
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fsync_dir(parent.parent)
    except OSError as err:
        raise StoreError(f"could not create the data dir {parent}: {err}") from err
