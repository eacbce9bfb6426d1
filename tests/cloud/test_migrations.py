"""Migrations: upgrade an empty PostgreSQL schema and an empty SQLite file to head, match
the models exactly, downgrade and upgrade again; ``lightbox cloud migrate`` does it too."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from lightbox.cli.cloud import cloud_app
from lightbox.cloud.db import Base, create_engine
from lightbox.cloud.db.migrate import current, downgrade, head, upgrade

TABLES = {
    "users",
    "refresh_tokens",
    "devices",
    "claim_codes",
    "audit_log",
    "device_sync",
    "telemetry",
    "releases",
    "device_groups",
    "device_group_members",
    "rollouts",
    "device_updates",
    "alembic_version",
}


async def check_round_trip(engine: AsyncEngine) -> None:
    assert await current(engine) is None
    await upgrade(engine)
    assert await current(engine) == head()

    def diff(conn: Connection) -> list[object]:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    def tables(conn: Connection) -> set[str]:
        return set(inspect(conn).get_table_names())

    async with engine.connect() as conn:
        assert await conn.run_sync(diff) == []
        assert await conn.run_sync(tables) == TABLES
    await downgrade(engine)
    async with engine.connect() as conn:
        assert await conn.run_sync(tables) == {"alembic_version"}
    await upgrade(engine)
    await upgrade(engine)  # idempotent
    assert await current(engine) == head()


async def test_postgres_empty_schema(pg_url: str, pg_schema: str) -> None:
    engine = create_engine(pg_url, schema=pg_schema)
    try:
        await check_round_trip(engine)
    finally:
        await engine.dispose()


async def test_sqlite_empty_file(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'cloud.db'}")
    try:
        await check_round_trip(engine)
    finally:
        await engine.dispose()


def test_cli_migrate(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    result = CliRunner().invoke(cloud_app, ["migrate", "--database-url", url])
    assert result.exit_code == 0, result.output
    assert f"revision {head()}" in result.output
    result = CliRunner().invoke(cloud_app, ["migrate", "--database-url", "mysql://x"])
    assert result.exit_code == 2
    assert "database_url" in result.output


def test_migrations_ship_in_the_package() -> None:
    from lightbox.cloud.db.migrate import MIGRATIONS

    assert (MIGRATIONS / "env.py").is_file()
    assert (MIGRATIONS / "script.py.mako").is_file()
    assert any(MIGRATIONS.glob("versions/0001_*.py"))
