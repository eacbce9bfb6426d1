"""The async engine and session factory, for PostgreSQL (asyncpg) and SQLite (aiosqlite).

``schema`` (PostgreSQL only) puts every table, the Alembic version table included, into
that schema by setting the connection's ``search_path``: tests give each test its own.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def create_engine(url: str, *, schema: str | None = None, pool_size: int = 10) -> AsyncEngine:
    """An engine for ``url`` (``postgresql+asyncpg://`` or ``sqlite+aiosqlite://``)."""
    kwargs: dict[str, Any] = {}
    if url.startswith("postgresql"):
        connect_args: dict[str, Any] = {}
        if schema is not None:
            if not SCHEMA_NAME.match(schema):
                raise ValueError(f"schema {schema!r}: use lower-case letters, digits and '_'")
            connect_args["server_settings"] = {"search_path": schema}
        kwargs = {
            "pool_size": pool_size,
            "max_overflow": pool_size,
            "pool_pre_ping": True,
            "connect_args": connect_args,
        }
    elif schema is not None:
        raise ValueError("a schema is only for PostgreSQL")
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
