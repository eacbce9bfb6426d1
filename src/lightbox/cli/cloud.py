"""``lightbox cloud``: run a cloud instance and migrate its database."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from lightbox import aio

cloud_app = typer.Typer(help="Run the LightBox cloud service.", no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="postgresql+asyncpg://user:pass@host/db, or sqlite+aiosqlite:///path.db "
        "(default; LIGHTBOX_CLOUD_DATABASE_URL).",
    ),
]


def _config(**flags: Any) -> Any:
    from lightbox.cloud.config import ConfigError, load_config

    try:
        return load_config(**flags)
    except ConfigError as err:
        err_console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from err


@cloud_app.command("migrate")
def migrate(database_url: DatabaseUrl = None) -> None:
    """Apply the database migrations (Alembic upgrade head)."""
    from pydantic import ValidationError

    from lightbox.cloud.config import CloudConfig
    from lightbox.cloud.db import create_engine
    from lightbox.cloud.db.migrate import current, upgrade

    try:  # no signing secret needed here
        cfg = CloudConfig() if database_url is None else CloudConfig(database_url=database_url)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        msg = str(first["msg"]).removeprefix("Value error, ")
        err_console.print(f"[red]error:[/red] setting {first['loc'][0]!r}: {msg}")
        raise typer.Exit(2) from err

    async def main() -> str | None:
        engine = create_engine(cfg.database_url)
        try:
            await upgrade(engine)
            return await current(engine)
        finally:
            await engine.dispose()

    try:
        revision = asyncio.run(main())
    except OSError as err:
        err_console.print(f"[red]error:[/red] cannot reach the database: {err}")
        raise typer.Exit(1) from err
    console.print(f"database at revision {revision}")


@cloud_app.command("admin")
def admin(
    email: Annotated[str, typer.Argument(help="The account's e-mail address.")],
    revoke: Annotated[bool, typer.Option("--revoke", help="Take the admin role away.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Make an account an admin (publishes releases, steers rollouts), or --revoke it."""
    from lightbox.cloud.config import CloudConfig
    from lightbox.cloud.db import create_engine, create_sessionmaker
    from lightbox.cloud.releases.admin import set_admin

    cfg = CloudConfig() if database_url is None else CloudConfig(database_url=database_url)

    async def main() -> bool:
        engine = create_engine(cfg.database_url)
        try:
            return await set_admin(create_sessionmaker(engine), email, not revoke)
        finally:
            await engine.dispose()

    if not asyncio.run(main()):
        err_console.print(f"[red]error:[/red] no account {email!r}")
        raise typer.Exit(1)
    console.print(f"{email}: {'no longer an admin' if revoke else 'admin'}")


@cloud_app.command("run")
def run(
    http_host: Annotated[str | None, typer.Option("--http-host", help="Listen address.")] = None,
    http_port: Annotated[int | None, typer.Option("--http-port", help="HTTP port (8000).")] = None,
    database_url: DatabaseUrl = None,
    redis_url: Annotated[
        str | None,
        typer.Option("--redis-url", help="redis://host:6379/0; needed for several instances."),
    ] = None,
    mqtt_url: Annotated[
        str | None, typer.Option("--mqtt-url", help="The cloud broker: mqtt(s)://host:port.")
    ] = None,
    storage_url: Annotated[
        str | None,
        typer.Option("--storage-url", help="s3://bucket, s3://bucket/prefix or a local directory."),
    ] = None,
    public_url: Annotated[
        str | None, typer.Option("--public-url", help="How users reach this service.")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Dev files (the --dev secret).")
    ] = None,
    dev: Annotated[
        bool,
        typer.Option(
            "--dev",
            help="Development: generate a signing secret into the data dir when none is "
            "set, and apply migrations before start.",
        ),
    ] = False,
    apply_migrations: Annotated[
        bool, typer.Option("--migrate", help="Apply migrations before start.")
    ] = False,
    sync_workers: Annotated[
        int | None,
        typer.Option(
            "--sync-workers",
            min=1,
            help="Sync worker processes (state sync throughput; PostgreSQL). Default 1.",
        ),
    ] = None,
) -> None:
    """Run one stateless cloud instance until SIGTERM or Ctrl-C."""
    import os

    from lightbox import logs
    from lightbox.cloud.config import CloudConfig, dev_secret

    jwt_secret = None
    if dev and not os.environ.get("LIGHTBOX_CLOUD_JWT_SECRET"):
        jwt_secret = dev_secret(data_dir or Path("./lightbox-cloud"))
    cfg = _config(
        http_host=http_host,
        http_port=http_port,
        database_url=database_url,
        redis_url=redis_url,
        mqtt_url=mqtt_url,
        storage_url=storage_url,
        public_url=public_url,
        data_dir=data_dir,
        jwt_secret=jwt_secret,
        sync_workers=sync_workers,
    )
    assert isinstance(cfg, CloudConfig)
    logs.configure(cfg.log_level, cfg.log_format, instance=cfg.instance_id)
    try:
        aio.run(_serve(cfg, migrate_first=dev or apply_migrations))
    except OSError as err:
        err_console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(1) from err


async def _serve(cfg: Any, *, migrate_first: bool) -> None:
    import uvicorn

    from lightbox.cloud.api import create_app
    from lightbox.cloud.db import create_engine
    from lightbox.cloud.db.migrate import current, head, upgrade

    engine = create_engine(cfg.database_url)
    try:
        if migrate_first:
            await upgrade(engine)
        revision = await current(engine)
    finally:
        await engine.dispose()
    if revision != head():
        err_console.print(
            f"[red]error:[/red] the database is at revision {revision or 'none'}, not "
            f"{head()}: run `lightbox cloud migrate` first (or pass --migrate)"
        )
        raise typer.Exit(2)
    app = create_app(cfg)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=cfg.http_host,
            port=cfg.http_port,
            proxy_headers=True,
            forwarded_allow_ips=cfg.forwarded_allow_ips,
            log_config=None,
            access_log=False,
        )
    )
    console.print(
        f"LightBox cloud [bold]{cfg.instance_id}[/bold] at http://{cfg.http_host}:{cfg.http_port}"
    )

    async def settle() -> None:
        while not server.started and not server.should_exit:  # noqa: ASYNC110 (a flag)
            await asyncio.sleep(0.05)
        aio.freeze_heap()  # the app, its services and the sync worker are built

    settling = asyncio.create_task(settle())
    try:
        await server.serve()
    finally:
        settling.cancel()
