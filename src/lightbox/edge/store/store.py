"""The LightBox store: state, settings, library, media metadata, tokens and command results.

One SQLite file in WAL mode. Reads run in autocommit mode, so each read is its own snapshot;
writes run in ``with store.transaction() as tx:`` (``BEGIN IMMEDIATE`` ... ``COMMIT``), and
are durable (fsynced, ``synchronous=FULL``) when the ``with`` block ends.

Threads: every thread gets its own connection (``threading.local``), opened on first use and
closed by :meth:`Store.close` (or when the store notices its thread has ended). In WAL mode,
readers never wait for a writer; writers wait for each other at most ``busy_timeout`` seconds,
then :class:`StoreBusy` is raised. So the service may call any method from any worker thread
(``asyncio.to_thread``), concurrently. A transaction belongs to the thread that opened it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from lightbox.edge.store.db import check_integrity, connect, create_parent, migrate
from lightbox.edge.store.errors import StoreCorrupt, StoreError, corrupt_message, translate
from lightbox.edge.store.files import fsync_dir
from lightbox.edge.store.records import MediaRecord, TokenInfo
from lightbox.protocol.base import WireModel
from lightbox.protocol.library import Playlist, Preset, Schedule
from lightbox.protocol.settings import Settings
from lightbox.protocol.state import CommandResult, State

__all__ = ["RESULTS_KEPT", "TOKEN_PREFIX", "Store", "Tx"]

_LOG = logging.getLogger(__name__)

RESULTS_KEPT = 10_000
"""How many command results are kept for idempotency; older ones are pruned."""

TOKEN_PREFIX = "lbx_"
_LAST_USED_RESOLUTION = timedelta(minutes=1)

_M = TypeVar("_M", bound=WireModel)
Row = tuple[Any, ...]
Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _time_text(value: datetime) -> str:
    """UTC, fixed width: text order is time order."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _in_transaction(conn: sqlite3.Connection) -> bool:
    return conn.in_transaction


def _token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


@dataclass(frozen=True)
class _Kind(Generic[_M]):
    """A library table: id, name, the model's JSON, updated_at."""

    table: str
    label: str
    model: type[_M]


_PRESETS = _Kind("presets", "preset", Preset)
_PLAYLISTS = _Kind("playlists", "playlist", Playlist)
_SCHEDULES = _Kind("schedules", "schedule", Schedule)

_MEDIA_COLUMNS = (
    "id, filename, content_type, format, width, height, frames, bytes, sha256, created_at"
)
_TOKEN_COLUMNS = "id, name, created_at, last_used_at"


def _media(row: Row) -> MediaRecord:
    return MediaRecord(
        id=row[0],
        filename=row[1],
        content_type=row[2],
        format=row[3],
        width=row[4],
        height=row[5],
        frames=row[6],
        bytes=row[7],
        sha256=row[8],
        created_at=_parse_time(row[9]),
    )


def _token(row: Row) -> TokenInfo:
    return TokenInfo(
        id=row[0],
        name=row[1],
        created_at=_parse_time(row[2]),
        last_used_at=None if row[3] is None else _parse_time(row[3]),
    )


class _Reads:
    """The read queries, shared by Store (autocommit) and Tx (inside its transaction)."""

    _path: Path

    def _conn(self) -> sqlite3.Connection:
        raise NotImplementedError

    def _all(self, doing: str, sql: str, params: tuple[Any, ...] = ()) -> list[Row]:
        try:
            return self._conn().execute(sql, params).fetchall()
        except sqlite3.Error as err:
            raise translate(err, doing, self._path) from err

    def _one(self, doing: str, sql: str, params: tuple[Any, ...] = ()) -> Row | None:
        rows = self._all(doing, sql, params)
        return rows[0] if rows else None

    def _parse(self, model: type[_M], what: str, body: str) -> _M:
        try:
            return model.model_validate_json(body)
        except ValidationError as err:
            raise StoreCorrupt(
                corrupt_message(
                    self._path,
                    f"the stored {what} does not match the {model.__name__} model "
                    f"({err.error_count()} errors, first: {err.errors()[0]['msg']})",
                )
            ) from err

    def _get_item(self, kind: _Kind[_M], id: str) -> _M | None:
        row = self._one(
            f"reading {kind.label} {id!r}", f"SELECT body FROM {kind.table} WHERE id = ?", (id,)
        )
        return None if row is None else self._parse(kind.model, f"{kind.label} {id!r}", row[0])

    def _list_items(self, kind: _Kind[_M]) -> list[_M]:
        rows = self._all(
            f"listing {kind.table}",
            f"SELECT id, body FROM {kind.table} ORDER BY name COLLATE NOCASE, name, id",
        )
        return [self._parse(kind.model, f"{kind.label} {row[0]!r}", row[1]) for row in rows]

    def load_state(self) -> State | None:
        row = self._one("loading the state", "SELECT body FROM state WHERE id = 1")
        return None if row is None else self._parse(State, "state", row[0])

    def load_settings(self) -> Settings | None:
        row = self._one("loading the settings", "SELECT body FROM settings WHERE id = 1")
        return None if row is None else self._parse(Settings, "settings", row[0])

    def list_presets(self) -> list[Preset]:
        """Presets by name (ASCII case-insensitive), then id."""
        return self._list_items(_PRESETS)

    def get_preset(self, id: str) -> Preset | None:
        return self._get_item(_PRESETS, id)

    def list_playlists(self) -> list[Playlist]:
        """Playlists by name (ASCII case-insensitive), then id."""
        return self._list_items(_PLAYLISTS)

    def get_playlist(self, id: str) -> Playlist | None:
        return self._get_item(_PLAYLISTS, id)

    def list_schedules(self) -> list[Schedule]:
        """Schedules by name (ASCII case-insensitive), then id."""
        return self._list_items(_SCHEDULES)

    def get_schedule(self, id: str) -> Schedule | None:
        return self._get_item(_SCHEDULES, id)

    def list_media(self) -> list[MediaRecord]:
        """Media records, oldest first (by created_at, then id)."""
        rows = self._all(
            "listing media", f"SELECT {_MEDIA_COLUMNS} FROM media ORDER BY created_at, id"
        )
        return [_media(row) for row in rows]

    def get_media(self, id: str) -> MediaRecord | None:
        row = self._one(
            f"reading media {id!r}", f"SELECT {_MEDIA_COLUMNS} FROM media WHERE id = ?", (id,)
        )
        return None if row is None else _media(row)

    def result_ids(self) -> set[str]:
        """The ids of every stored command result (at most RESULTS_KEPT)."""
        rows = self._all("listing command ids", "SELECT command_id FROM command_results", ())
        return {str(row[0]) for row in rows}

    def get_result(self, command_id: str) -> CommandResult | None:
        row = self._one(
            "reading a command result",
            "SELECT body FROM command_results WHERE command_id = ?",
            (command_id,),
        )
        return (
            None
            if row is None
            else self._parse(CommandResult, f"result of command {command_id!r}", row[0])
        )

    def list_tokens(self) -> list[TokenInfo]:
        """API tokens, oldest first; never the tokens themselves."""
        rows = self._all(
            "listing tokens", f"SELECT {_TOKEN_COLUMNS} FROM tokens ORDER BY created_at, id"
        )
        return [_token(row) for row in rows]

    def get_meta(self, key: str) -> str | None:
        row = self._one(f"reading meta {key!r}", "SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else str(row[0])


class Tx(_Reads):
    """One write transaction; get it from :meth:`Store.transaction`, use it inside the block."""

    def __init__(self, conn: sqlite3.Connection, path: Path, clock: Clock) -> None:
        self._connection: sqlite3.Connection | None = conn
        self._path = path
        self._clock = clock

    def _conn(self) -> sqlite3.Connection:
        if self._connection is None:
            raise StoreError(
                "this transaction has ended: use a Tx only inside its "
                "`with store.transaction() as tx:` block"
            )
        return self._connection

    def _end(self) -> None:
        self._connection = None

    def _run(self, doing: str, sql: str, params: tuple[Any, ...] = ()) -> int:
        """Execute a write; the number of rows it changed."""
        try:
            return self._conn().execute(sql, params).rowcount
        except sqlite3.Error as err:
            raise translate(err, doing, self._path) from err

    def _now(self) -> str:
        return _time_text(self._clock())

    def save_state(self, state: State) -> None:
        self._run(
            "saving the state",
            "INSERT OR REPLACE INTO state (id, version, body, updated_at) VALUES (1, ?, ?, ?)",
            (state.version, state.model_dump_json(), self._now()),
        )

    def save_settings(self, settings: Settings) -> None:
        self._run(
            "saving the settings",
            "INSERT OR REPLACE INTO settings (id, body, updated_at) VALUES (1, ?, ?)",
            (settings.model_dump_json(), self._now()),
        )

    def _put_item(self, kind: _Kind[_M], id: str, name: str, item: _M) -> None:
        self._run(
            f"saving {kind.label} {id!r}",
            f"INSERT OR REPLACE INTO {kind.table} (id, name, body, updated_at) VALUES (?, ?, ?, ?)",
            (id, name, item.model_dump_json(), self._now()),
        )

    def _delete(self, table: str, label: str, id: str) -> bool:
        return self._run(f"deleting {label} {id!r}", f"DELETE FROM {table} WHERE id = ?", (id,)) > 0

    def put_preset(self, preset: Preset) -> None:
        """Create or replace the preset with this id."""
        self._put_item(_PRESETS, preset.id, preset.name, preset)

    def delete_preset(self, id: str) -> bool:
        """Delete a preset; False if there was none with this id."""
        return self._delete(_PRESETS.table, _PRESETS.label, id)

    def put_playlist(self, playlist: Playlist) -> None:
        self._put_item(_PLAYLISTS, playlist.id, playlist.name, playlist)

    def delete_playlist(self, id: str) -> bool:
        return self._delete(_PLAYLISTS.table, _PLAYLISTS.label, id)

    def put_schedule(self, schedule: Schedule) -> None:
        self._put_item(_SCHEDULES, schedule.id, schedule.name, schedule)

    def delete_schedule(self, id: str) -> bool:
        return self._delete(_SCHEDULES.table, _SCHEDULES.label, id)

    def put_media(self, record: MediaRecord) -> None:
        """Create or replace the media record with this id (the file is the caller's)."""
        self._run(
            f"saving media {record.id!r}",
            f"INSERT OR REPLACE INTO media ({_MEDIA_COLUMNS}) VALUES ({', '.join('?' * 10)})",
            (
                record.id,
                record.filename,
                record.content_type,
                record.format,
                record.width,
                record.height,
                record.frames,
                record.bytes,
                record.sha256,
                _time_text(record.created_at),
            ),
        )

    def delete_media(self, id: str) -> bool:
        return self._delete("media", "media", id)

    def put_result(self, command_id: str, result: CommandResult) -> None:
        """Record the result of a command; keeps the newest RESULTS_KEPT command ids.

        Putting an id again replaces its result and keeps its place in the age order.
        """
        doing = f"saving the result of command {command_id!r}"
        self._run(
            doing,
            "INSERT INTO command_results (command_id, ok, body, created_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (command_id) DO UPDATE SET "
            "ok = excluded.ok, body = excluded.body, created_at = excluded.created_at",
            (command_id, result.ok, result.model_dump_json(), self._now()),
        )
        self._run(
            doing,
            # seq is the rowid: a new id takes max + 1 and a repeated one keeps its seq, so
            # the newest RESULTS_KEPT are one range of keys. (An OFFSET walk here read every
            # kept row on every command: the cost grew with the table.)
            "DELETE FROM command_results WHERE seq <= (SELECT max(seq) FROM command_results) - ?",
            (RESULTS_KEPT,),
        )

    def create_token(self, name: str) -> tuple[TokenInfo, str]:
        """A new API token: ``(info, token)``. The token is not stored: show it once."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        info = TokenInfo(
            id=secrets.token_hex(8),
            name=name,
            created_at=self._clock().astimezone(UTC),
            last_used_at=None,
        )
        self._run(
            f"creating token {name!r}",
            "INSERT INTO tokens (id, name, sha256, created_at) VALUES (?, ?, ?, ?)",
            (info.id, name, _token_digest(token), _time_text(info.created_at)),
        )
        return info, token

    def revoke_token(self, token_id: str) -> bool:
        """Delete a token; False if there was none with this id."""
        return self._delete("tokens", "token", token_id)

    def set_meta(self, key: str, value: str) -> None:
        self._run(
            f"setting meta {key!r}",
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
            (key, value),
        )


class Store(_Reads):
    """The LightBox's local store. Open with :meth:`Store.open`; close with :meth:`close`."""

    def __init__(self, path: Path, busy_timeout: float, clock: Clock) -> None:
        self._path = path
        self._busy_timeout = busy_timeout
        self._clock = clock
        self._local = threading.local()
        self._lock = threading.Lock()
        self._conns: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._closed = False

    @classmethod
    def open(cls, path: Path, *, busy_timeout: float = 5.0, clock: Clock | None = None) -> Store:
        """Open (or create) the store at ``path``, check its integrity and migrate it.

        Raises StoreCorrupt if the file is damaged or not a LightBox database, StoreError if
        it cannot be opened or was written by a newer LightBox.
        """
        path = Path(path)
        create_parent(path)
        is_new = not path.exists()
        conn = connect(path, busy_timeout)
        try:
            check_integrity(conn, path)
            migrate(conn, path)
            if is_new:
                fsync_dir(path.parent)
        except OSError as err:
            conn.close()
            raise StoreError(f"could not sync the data dir {path.parent}: {err}") from err
        except BaseException:
            conn.close()
            raise
        store = cls(path, busy_timeout, clock or _utcnow)
        store._adopt(conn)
        return store

    @property
    def path(self) -> Path:
        return self._path

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _adopt(self, conn: sqlite3.Connection) -> None:
        """Make ``conn`` this thread's connection, to be closed by :meth:`close`."""
        with self._lock:
            if self._closed:
                conn.close()
                raise StoreError(f"the store {self._path} is closed")
            self._reap()
            self._conns.append((threading.current_thread(), conn))
        self._local.conn = conn

    def _reap(self) -> None:
        """Close the connections of threads that have ended (holding ``_lock``)."""
        alive = []
        for thread, conn in self._conns:
            if thread.is_alive():
                alive.append((thread, conn))
            else:
                conn.close()
        self._conns = alive

    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreError(f"the store {self._path} is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self._path, self._busy_timeout)
            self._adopt(conn)
        return conn

    def close(self) -> None:
        """Close every connection. Call once all threads are done with the store."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            conns, self._conns = self._conns, []
        first: sqlite3.Error | None = None
        for _, conn in conns:
            try:
                conn.close()
            except sqlite3.Error as err:
                first = first or err
        if first is not None:
            raise translate(first, "closing the database", self._path) from first

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """``with store.transaction() as tx:`` one write transaction, durable when it ends.

        Rolled back if the block raises. Transactions do not nest.
        """
        conn = self._conn()
        if conn.in_transaction:
            raise StoreError("a transaction is already open in this thread; they do not nest")
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as err:
            raise translate(err, "starting a write transaction", self._path) from err
        tx = Tx(conn, self._path, self._clock)
        try:
            yield tx
            tx._end()
            conn.execute("COMMIT")
        except BaseException as exc:
            tx._end()
            if _in_transaction(conn):  # a failed COMMIT may already have rolled back
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error as rollback_err:
                    exc.add_note(f"rolling back failed too: {rollback_err}")
            if isinstance(exc, sqlite3.Error):
                raise translate(exc, "committing a transaction", self._path) from exc
            raise

    def verify_token(self, token: str) -> TokenInfo | None:
        """The token's info if ``token`` is a valid API token, else None.

        Compares sha256(token) with every stored hash in constant time. Records the use in
        ``last_used_at`` at most once a minute per token (skipped if the database is busy).
        """
        digest = _token_digest(token)
        rows = self._all("verifying a token", f"SELECT {_TOKEN_COLUMNS}, sha256 FROM tokens")
        found: Row | None = None
        for row in rows:
            if hmac.compare_digest(bytes(row[4]), digest) and found is None:
                found = row
        if found is None:
            return None
        info = _token(found)
        now = self._clock().astimezone(UTC)
        if info.last_used_at is not None and now - info.last_used_at < _LAST_USED_RESOLUTION:
            return info
        try:
            self._conn().execute(
                "UPDATE tokens SET last_used_at = ? WHERE id = ?", (_time_text(now), info.id)
            )
        except sqlite3.Error as err:
            _LOG.warning("could not record the use of token %s: %s", info.id, err)
            return info
        return TokenInfo(info.id, info.name, info.created_at, now)

    def backup(self, destination: Path) -> None:
        """Write a consistent copy of the database to ``destination`` (online backup)."""
        try:
            target = sqlite3.connect(destination)
        except sqlite3.Error as err:
            raise translate(err, f"opening the backup file {destination}", self._path) from err
        try:
            self._conn().backup(target)
        except sqlite3.Error as err:
            raise translate(err, f"backing up to {destination}", self._path) from err
        finally:
            target.close()
