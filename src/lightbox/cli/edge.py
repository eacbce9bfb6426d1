"""``lightbox edge``: run a LightBox and manage its local API tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from lightbox import aio

edge_app = typer.Typer(help="Run a LightBox and manage it.", no_args_is_help=True)
token_app = typer.Typer(help="Local API tokens.", no_args_is_help=True)
edge_app.add_typer(token_app, name="token")
console = Console()
err_console = Console(stderr=True)

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Where the LightBox keeps SQLite and media."),
]


def _config(config_file: Path | None, **flags: object) -> object:
    from lightbox.edge.config import ConfigError, load_config

    try:
        return load_config(config_file, **flags)
    except ConfigError as err:
        err_console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from err


@edge_app.command("run")
def run(
    config: Annotated[Path | None, typer.Option("--config", help="TOML settings file.")] = None,
    data_dir: DataDir = None,
    http_host: Annotated[str | None, typer.Option("--http-host", help="Listen address.")] = None,
    http_port: Annotated[int | None, typer.Option("--http-port", help="Local API port.")] = None,
    mqtt_url: Annotated[
        str | None,
        typer.Option(
            "--mqtt-url",
            help="mqtt://[user:pass@]host:port (mqtts:// for TLS); none: an embedded broker.",
        ),
    ] = None,
    mqtt_ca_file: Annotated[
        Path | None, typer.Option("--mqtt-ca-file", help="CA bundle for mqtts://.")
    ] = None,
    device_id: Annotated[str | None, typer.Option("--device-id", help="Stable device id.")] = None,
    driver: Annotated[
        str | None, typer.Option("--driver", help="emulator, terminal, null, hub75, ws281x.")
    ] = None,
    size: Annotated[str | None, typer.Option("--size", help="Matrix size WxH.")] = None,
    log_format: Annotated[str | None, typer.Option("--log-format", help="console or json.")] = None,
    cloud_url: Annotated[
        str | None,
        typer.Option("--cloud-url", help="LightBox cloud URL (https://...); none: LAN only."),
    ] = None,
) -> None:
    """Run a LightBox until SIGTERM or Ctrl-C."""
    from lightbox import logs
    from lightbox.edge.config import EdgeConfig
    from lightbox.edge.runtime import EdgeRuntime

    cfg = _config(
        config,
        data_dir=data_dir,
        http_host=http_host,
        http_port=http_port,
        mqtt_url=mqtt_url,
        mqtt_ca_file=mqtt_ca_file,
        device_id=device_id,
        driver=driver,
        size=size,
        log_format=log_format,
        cloud_url=cloud_url,
    )
    assert isinstance(cfg, EdgeConfig)
    logs.configure(cfg.log_level, cfg.log_format)

    async def main() -> None:
        runtime = EdgeRuntime(cfg)
        try:
            endpoints = await runtime.start()
        except Exception:
            await runtime.stop()
            raise
        console.print(
            f"LightBox [bold]{runtime.service.device_id if runtime.service else ''}"
            f"[/bold] at {endpoints.http_url}  (MQTT {endpoints.mqtt_url})"
        )
        await runtime.run_until_signal()

    try:
        aio.run(main())
    except OSError as err:
        err_console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(1) from err


def _open_store(data_dir: Path | None) -> object:
    from lightbox.edge.config import EdgeConfig
    from lightbox.edge.store import Store

    cfg = _config(None, data_dir=data_dir)
    assert isinstance(cfg, EdgeConfig)
    return Store.open(Path(cfg.data_dir) / "lightbox.db")


@token_app.command("create")
def token_create(
    data_dir: DataDir = None,
    name: Annotated[str, typer.Option(help="A name to recognise the token by.")] = "cli",
) -> None:
    """Create a local API token and print it (shown once)."""
    from lightbox.edge.store import Store

    store = _open_store(data_dir)
    assert isinstance(store, Store)
    try:
        with store.transaction() as tx:
            info, token = tx.create_token(name)
    finally:
        store.close()
    typer.echo(token)
    err_console.print(f"token {info.id} ({info.name}) created; it is shown only this once")


@token_app.command("list")
def token_list(data_dir: DataDir = None) -> None:
    """List local API tokens (never their secrets)."""
    from lightbox.edge.store import Store

    store = _open_store(data_dir)
    assert isinstance(store, Store)
    try:
        tokens = store.list_tokens()
    finally:
        store.close()
    for info in tokens:
        used = info.last_used_at.isoformat() if info.last_used_at else "never"
        typer.echo(f"{info.id}\t{info.name}\tcreated {info.created_at.isoformat()}\tused {used}")


@token_app.command("revoke")
def token_revoke(token_id: str, data_dir: DataDir = None) -> None:
    """Revoke a local API token by its id."""
    from lightbox.edge.store import Store

    store = _open_store(data_dir)
    assert isinstance(store, Store)
    try:
        with store.transaction() as tx:
            found = tx.revoke_token(token_id)
    finally:
        store.close()
    if not found:
        err_console.print(f"[red]error:[/red] no token {token_id!r}")
        raise typer.Exit(1)
    typer.echo(f"revoked {token_id}")
