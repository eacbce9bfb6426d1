"""Alembic environment: runs on the connection handed over by ``lightbox.cloud.db.migrate``,
or, when run by the ``alembic`` command, on an async engine for ``sqlalchemy.url`` (or
``LIGHTBOX_CLOUD_DATABASE_URL``)."""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy import Connection

from lightbox.cloud.db.models import Base

config = context.config
target_metadata = Base.metadata


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_with_engine(url: str) -> None:
    from lightbox.cloud.db.engine import create_engine

    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(run_on)
    finally:
        await engine.dispose()


def run_offline(url: str) -> None:
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run_on(connection)
else:
    url = config.get_main_option("sqlalchemy.url") or os.environ.get(
        "LIGHTBOX_CLOUD_DATABASE_URL", "sqlite+aiosqlite:///./lightbox-cloud.db"
    )
    if context.is_offline_mode():
        run_offline(url)
    else:
        asyncio.run(run_with_engine(url))
