"""Fixtures: a dynsec Mosquitto and a migrated PostgreSQL schema per test."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from lightbox.cloud.broker.local import LocalMosquitto
from lightbox.cloud.db import create_engine
from lightbox.cloud.db.migrate import upgrade
from tests.cloud.broker.helpers import dynsec_broker, skip_or_fail

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def _probe(url: str) -> str | None:
    async def probe() -> None:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                await conn.execute(text("select 1"))
        finally:
            await engine.dispose()

    try:
        asyncio.run(asyncio.wait_for(probe(), 10))
    except Exception as err:
        return f"PostgreSQL at {url} is not reachable ({err!r}); set LIGHTBOX_TEST_DATABASE_URL"
    return None


@pytest.fixture(scope="session")
def pg_url() -> str:
    url = os.environ.get("LIGHTBOX_TEST_DATABASE_URL", DEFAULT_DATABASE_URL)
    problem = _probe(url)
    if problem:
        skip_or_fail(problem)
    return url


@pytest.fixture
async def schema(pg_url: str) -> AsyncIterator[str]:
    """A migrated PostgreSQL schema of this test's own (dropped afterwards)."""
    name = f"t_{uuid.uuid4().hex}"
    engine = create_engine(pg_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{name}"'))
        scoped = create_engine(pg_url, schema=name)
        try:
            await upgrade(scoped)
        finally:
            await scoped.dispose()
        yield name
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        await engine.dispose()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[LocalMosquitto]:
    with dynsec_broker(tmp_path / "broker") as b:
        yield b
