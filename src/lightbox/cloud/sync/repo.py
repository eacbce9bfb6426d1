"""The ``device_sync`` and ``telemetry`` tables: every read-merge-write under a row lock.

Each merge runs in one transaction that takes the device's row with ``SELECT ... FOR
UPDATE`` (creating it first if missing), merges, and writes document and marks back:
two cloud instances handling two messages of one device at once serialise on the row and
never lose a merge. The reply is published only after the commit (docs/sync.md, rule 2).
On SQLite (one instance) the transaction's write lock does the same.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    Boolean,
    LargeBinary,
    String,
    Table,
    bindparam,
    case,
    false,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
)

from lightbox.cloud.db import Device, DeviceSync, Telemetry
from lightbox.cloud.sync.merge import Answer, answer, edit, next_delta
from lightbox.sync import CLOUD, Document, PeerMarks, decode, encode, restore, snapshot
from lightbox.sync.messages import SyncMessage

__all__ = ["Pending", "SyncRepo", "Synced"]

logger = logging.getLogger(__name__)

_EMPTY = snapshot(Document(), origin=CLOUD)
_SYNC = cast(Table, DeviceSync.__table__)
_DEVICES = cast(Table, Device.__table__)
_UPDATE = (
    update(_SYNC)
    .where(_SYNC.c.device_id == bindparam("p_key"))
    .values(
        document=bindparam("p_document", type_=LargeBinary),
        received=bindparam("p_received", type_=String),
        acked=bindparam("p_acked", type_=String),
        sent=bindparam("p_sent", type_=String),
        updated_at=bindparam("p_updated_at", type_=_SYNC.c.updated_at.type),
        last_sync_at=func.coalesce(
            bindparam("p_synced", type_=_SYNC.c.last_sync_at.type), _SYNC.c.last_sync_at
        ),
        pending_down=case(
            (bindparam("p_clear", type_=Boolean), false()), else_=_SYNC.c.pending_down
        ),
        last_error=func.coalesce(bindparam("p_error", type_=String), _SYNC.c.last_error),
    )
)
"""One device's row written back after a merge (executemany over a batch; not PostgreSQL)."""

# the same three statements for asyncpg (PostgreSQL), prepared once per connection
_PG_CREATE = """
INSERT INTO device_sync (device_id, document, pending_down, updated_at)
SELECT id, $2::bytea, false, $3 FROM devices WHERE id = ANY($1::varchar[]) ORDER BY id
ON CONFLICT DO NOTHING
"""
_PG_LOCK = """
SELECT device_id, document, received, acked, sent FROM device_sync
WHERE device_id = ANY($1::varchar[]) ORDER BY device_id FOR UPDATE
"""
_PG_UPDATE = """
UPDATE device_sync AS d SET document = u.document, received = u.received, acked = u.acked,
    sent = u.sent, updated_at = $9,
    last_sync_at = CASE WHEN u.merged THEN $9 ELSE d.last_sync_at END,
    pending_down = CASE WHEN u.clear THEN false ELSE d.pending_down END,
    last_error = coalesce(u.error, d.last_error)
FROM unnest($1::varchar[], $2::bytea[], $3::varchar[], $4::varchar[], $5::varchar[],
            $6::boolean[], $7::boolean[], $8::varchar[])
    AS u(device_id, document, received, acked, sent, merged, clear, error)
WHERE d.device_id = u.device_id
"""
"""Every changed row of a batch in ONE statement (arrays, one element per device): for
PostgreSQL one statement is much less work than one ``UPDATE`` per row (executemany),
and the batch goes over the wire as eight arrays."""


def _row_state(
    document: bytes, received: str | None, acked: str | None, sent: str | None
) -> tuple[Document, PeerMarks]:
    return restore(document), PeerMarks(_ts(received), _ts(acked), _ts(sent))


def _create_rows(dialect: str, ids: list[str], now: datetime) -> Any:
    """``INSERT ... SELECT`` the missing rows of registered devices (Core, any dialect)."""
    source = (
        select(
            _DEVICES.c.id,
            literal(_EMPTY, LargeBinary),
            false(),
            literal(now, _SYNC.c.updated_at.type),
        )
        .where(_DEVICES.c.id.in_(ids))
        .order_by(_DEVICES.c.id)
    )
    columns = ["device_id", "document", "pending_down", "updated_at"]
    insert_ = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert_(_SYNC).from_select(columns, source).on_conflict_do_nothing()


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _ts(text: str | None) -> Any:
    return decode(text) if text else None


@dataclass(frozen=True, slots=True)
class Synced:
    """A device's merged document as the API shows it."""

    device_id: str
    document: Document
    marks: PeerMarks
    last_sync_at: datetime | None
    updated_at: datetime | None
    pending_down: bool
    last_error: str | None


@dataclass(frozen=True, slots=True)
class Pending:
    device_id: str
    message: SyncMessage


class SyncRepo:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        clock: Callable[[], datetime] = _utcnow,
        keep_connections: bool = False,
    ) -> None:
        """``keep_connections``: :meth:`merge_many` keeps its PostgreSQL connection checked
        out for the next batch (the sync worker's hot path); :meth:`close` gives them back.
        """
        self._sessions = sessionmaker
        self._clock = clock
        self._keep = keep_connections
        # PostgreSQL connections kept checked out between batches (see _connection)
        self._idle: list[AsyncConnection] = []

    async def close(self) -> None:
        """Give back the connections :meth:`merge_many` keeps between batches."""
        idle, self._idle = self._idle, []
        for conn in idle:
            with contextlib.suppress(Exception):
                await conn.close()

    @contextlib.asynccontextmanager
    async def _connection(self, engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
        """A connection for one batch, kept checked out for the next one.

        A batch is a few milliseconds of work; checking a connection out of the pool for
        each cost a ``pool_pre_ping`` round trip and SQLAlchemy's greenlet hops, about a
        sixth of the sync worker's CPU. The connection of a batch that failed is closed, not
        kept (the next batch checks out a fresh one, pinged).
        """
        if not self._keep:
            async with engine.connect() as fresh:
                yield fresh
            return
        if self._idle:
            conn = self._idle.pop()
        else:
            conn = await engine.connect()
            raw: Any = (await conn.get_raw_connection()).driver_connection
            # The batch statements take arrays of device ids. A generic plan, which
            # PostgreSQL caches for a prepared statement after five executions, may have
            # been made while the table was small: a sequential scan testing every row
            # against the whole array (it took as much CPU as the worker at 2,000
            # updates/s). Planned for each batch's own array, they use the primary key.
            await raw.execute("SET plan_cache_mode = force_custom_plan")
        try:
            yield conn
        except BaseException:
            with contextlib.suppress(Exception):
                await conn.invalidate()
            with contextlib.suppress(Exception):
                await conn.close()
            raise
        self._idle.append(conn)

    # -- rows -----------------------------------------------------------------------------

    async def _lock(self, session: AsyncSession, device_id: str) -> DeviceSync:
        query = select(DeviceSync).where(DeviceSync.device_id == device_id).with_for_update()
        row = await session.scalar(query)
        if row is not None:
            return row
        values = {
            "device_id": device_id,
            "document": _EMPTY,
            "pending_down": False,
            "updated_at": self._clock(),
        }
        dialect = session.get_bind().dialect.name
        stmt: Any
        if dialect == "postgresql":
            stmt = postgresql.insert(DeviceSync).values(values).on_conflict_do_nothing()
        elif dialect == "sqlite":
            stmt = sqlite.insert(DeviceSync).values(values).on_conflict_do_nothing()
        else:  # pragma: no cover
            stmt = insert(DeviceSync).values(values)
        await session.execute(stmt)
        row = await session.scalar(query)
        assert row is not None
        return row

    @staticmethod
    def _state(row: DeviceSync) -> tuple[Document, PeerMarks]:
        marks = PeerMarks(_ts(row.received), _ts(row.acked), _ts(row.sent))
        return restore(row.document), marks

    def _store(self, row: DeviceSync, doc: Document, marks: PeerMarks) -> None:
        row.document = snapshot(doc, origin=CLOUD)
        row.received = encode(marks.received) if marks.received else None
        row.acked = encode(marks.acked) if marks.acked else None
        row.sent = encode(marks.sent) if marks.sent else None
        row.updated_at = self._clock()

    # -- the device's messages --------------------------------------------------------------

    async def merge(self, device_id: str, message: SyncMessage) -> Answer | None:
        """Merge one message of a device; the answer (reply to publish after this returns).

        ``None`` when the device is unknown to the cloud (not registered).
        """
        return (await self.merge_many([(device_id, message)]))[0]

    async def merge_many(self, messages: Sequence[tuple[str, SyncMessage]]) -> list[Answer | None]:
        """Merge a batch of messages (several devices, in arrival order) in ONE transaction.

        Group commit: the rows of every device in the batch are created if missing (only for
        registered devices), then locked with ``SELECT ... FOR UPDATE`` in device id order
        (two instances locking overlapping batches cannot deadlock), each device's messages
        are answered in order, and the rows are written back together (on PostgreSQL one
        ``UPDATE ... FROM unnest(...)``, elsewhere an ``executemany``). Plain SQL: on
        PostgreSQL straight through asyncpg (prepared statements, the engine's raw
        connection), elsewhere SQLAlchemy Core; no ORM objects. The answers come back in
        the order of ``messages`` (``None``: unknown device); publish the replies only after
        this returns (the commit).
        """
        if not messages:
            return []
        ids = sorted({device_id for device_id, _ in messages})
        now = self._clock()
        bind = self._sessions.kw.get("bind")
        if isinstance(bind, AsyncEngine) and bind.dialect.name == "postgresql":
            async with self._connection(bind) as conn:
                raw: Any = (await conn.get_raw_connection()).driver_connection
                assert raw is not None
                async with raw.transaction():
                    # lock what exists; create what is missing, then lock that (the usual
                    # batch has every row: one statement). Deadlock-free: a transaction
                    # holds no row it created while it waits in the first lock, and
                    # both steps go in device id order.
                    rows = await raw.fetch(_PG_LOCK, ids)
                    if len(rows) < len(ids):
                        found = {r["device_id"] for r in rows}
                        missing = [i for i in ids if i not in found]
                        await raw.execute(_PG_CREATE, missing, _EMPTY, now)
                        rows = [*rows, *await raw.fetch(_PG_LOCK, missing)]
                    states = {
                        r["device_id"]: _row_state(
                            r["document"], r["received"], r["acked"], r["sent"]
                        )
                        for r in rows
                    }
                    answers, writes = self._answer(messages, states, now)
                    if writes:
                        await raw.execute(
                            _PG_UPDATE,
                            [w["p_key"] for w in writes],
                            [w["p_document"] for w in writes],
                            [w["p_received"] for w in writes],
                            [w["p_acked"] for w in writes],
                            [w["p_sent"] for w in writes],
                            [w["p_synced"] is not None for w in writes],
                            [w["p_clear"] for w in writes],
                            [w["p_error"] for w in writes],
                            now,
                        )
        else:
            async with self._sessions() as session, session.begin():
                conn2 = await session.connection()
                await conn2.execute(_create_rows(conn2.dialect.name, ids, now))
                query = (
                    select(
                        _SYNC.c.device_id,
                        _SYNC.c.document,
                        _SYNC.c.received,
                        _SYNC.c.acked,
                        _SYNC.c.sent,
                    )
                    .where(_SYNC.c.device_id.in_(ids))
                    .order_by(_SYNC.c.device_id)
                    .with_for_update()
                )
                states = {
                    r.device_id: _row_state(r.document, r.received, r.acked, r.sent)
                    for r in await conn2.execute(query)
                }
                answers, writes = self._answer(messages, states, now)
                if writes:
                    await conn2.execute(_UPDATE, writes)
        for (device_id, _), got in zip(messages, answers, strict=True):
            if got is None:
                logger.warning("device %s: sync message from an unknown device dropped", device_id)
        return answers

    def _answer(
        self,
        messages: Sequence[tuple[str, SyncMessage]],
        states: dict[str, tuple[Document, PeerMarks]],
        now: datetime,
    ) -> tuple[list[Answer | None], list[dict[str, Any]]]:
        """The pure part of :meth:`merge_many`: answers, and each changed row's new values."""
        answers: list[Answer | None] = []
        flags: dict[str, dict[str, Any]] = {}
        for device_id, message in messages:
            state = states.get(device_id)
            if state is None:
                answers.append(None)
                continue
            result = answer(state[0], state[1], message)
            states[device_id] = (result.document, result.marks)
            answers.append(result)
            write = flags.setdefault(
                device_id, {"p_key": device_id, "p_synced": None, "p_clear": False, "p_error": None}
            )
            if result.merged:
                write["p_synced"] = now
            if result.reply is not None and result.reply.delta is not None:
                write["p_clear"] = True
            if result.error:
                write["p_error"] = result.error[:500]
                logger.warning("device %s: %s", device_id, result.error)
        writes = []
        for device_id, write in flags.items():
            doc, marks = states[device_id]
            writes.append(
                {
                    **write,
                    "p_document": snapshot(doc, origin=CLOUD),
                    "p_received": encode(marks.received) if marks.received else None,
                    "p_acked": encode(marks.acked) if marks.acked else None,
                    "p_sent": encode(marks.sent) if marks.sent else None,
                    "p_updated_at": now,
                }
            )
        return answers, writes

    async def rewind(self, device_id: str) -> None:
        """A reply could not be published: send again from the acknowledged point."""
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(DeviceSync)
                .where(DeviceSync.device_id == device_id)
                .values(sent=DeviceSync.acked, pending_down=True)
            )

    async def rewind_unacknowledged(self) -> int:
        """Send every device again what it has not acknowledged (after a reconnect)."""
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                update(DeviceSync)
                .where(DeviceSync.sent.is_distinct_from(DeviceSync.acked))
                .values(sent=DeviceSync.acked, pending_down=True)
            )
        return int(getattr(result, "rowcount", 0) or 0)

    async def pending(self, limit: int = 100) -> list[Pending]:
        """Cloud edits waiting for their device: take them (skipping rows another instance
        holds), mark them sent, return the deltas to publish."""
        out: list[Pending] = []
        async with self._sessions() as session, session.begin():
            query = (
                select(DeviceSync)
                .where(DeviceSync.pending_down.is_(True))
                .order_by(DeviceSync.updated_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            for row in (await session.scalars(query)).all():
                doc, marks = self._state(row)
                message, marks = next_delta(doc, marks)
                row.pending_down = False
                if message is not None:
                    self._store(row, doc, marks)
                    out.append(Pending(row.device_id, message))
        return out

    # -- the API ------------------------------------------------------------------------------

    async def get(self, device_id: str) -> Synced | None:
        async with self._sessions() as session:
            row = await session.get(DeviceSync, device_id)
            if row is None:
                return None
            doc, marks = self._state(row)
            return Synced(
                device_id,
                doc,
                marks,
                row.last_sync_at,
                row.updated_at,
                row.pending_down,
                row.last_error,
            )

    async def edit(self, device_id: str, patch: Mapping[str, Any]) -> tuple[Synced, int]:
        """An owner's edit of the cloud copy (SyncValidationError: nothing stored)."""
        async with self._sessions() as session, session.begin():
            row = await self._lock(session, device_id)
            doc, marks = self._state(row)
            doc, count = edit(doc, patch)
            if count:
                self._store(row, doc, marks)
                row.pending_down = True
            synced = Synced(
                device_id,
                doc,
                marks,
                row.last_sync_at,
                row.updated_at,
                row.pending_down,
                row.last_error,
            )
        return synced, count

    # -- telemetry ----------------------------------------------------------------------------

    async def add_telemetry(self, device_id: str, samples: Sequence[Mapping[str, float]]) -> int:
        """Store samples (a sample already stored, same device and time, is skipped)."""
        rows = [
            {
                "device_id": device_id,
                "at": datetime.fromtimestamp(s["at"] / 1000, UTC),
                "fields": {k: v for k, v in s.items() if k != "at"},
            }
            for s in samples
        ]
        if not rows:
            return 0
        try:
            async with self._sessions() as session, session.begin():
                dialect = session.get_bind().dialect.name
                stmt: Any
                if dialect == "postgresql":
                    stmt = postgresql.insert(Telemetry).on_conflict_do_nothing()
                else:
                    stmt = sqlite.insert(Telemetry).on_conflict_do_nothing()
                await session.execute(stmt, rows)
        except IntegrityError:
            logger.warning("device %s: telemetry from an unknown device dropped", device_id)
            return 0
        return len(rows)
