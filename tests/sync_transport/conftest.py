"""Fixtures: a dynsec Mosquitto and a migrated PostgreSQL schema per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from lightbox.cloud.broker.local import LocalMosquitto
from lightbox.cloud.db import create_engine
from lightbox.cloud.db.migrate import upgrade
from tests.cloud.broker.helpers import dynsec_broker
from tests.cloud.conftest import pg_url  # the session fixture: probe, skip or fail under CI

__all__ = ["pg_url"]


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
