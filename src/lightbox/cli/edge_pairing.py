"""``lightbox edge pair-code``: issue a one-time pairing code on the LightBox itself."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

err_console = Console(stderr=True)


def pair_code(
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="Where the LightBox keeps SQLite and media."),
    ] = None,
    ttl: Annotated[
        float, typer.Option("--ttl", min=30, max=86_400, help="Seconds the code stays valid.")
    ] = 600.0,
) -> None:
    """Print a one-time pairing code: a phone exchanges it for an API token."""
    from lightbox.edge.config import ConfigError, load_config
    from lightbox.edge.pairing import Pairing
    from lightbox.edge.store import Store, StoreError

    try:
        config = load_config(None, data_dir=data_dir)
    except ConfigError as err:
        err_console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from err
    try:
        with Store.open(Path(config.data_dir) / "lightbox.db") as store:
            code = Pairing(store).issue(ttl_s=ttl)
    except StoreError as err:
        err_console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(1) from err
    typer.echo(code)
    err_console.print(
        f"pairing code valid for {ttl / 60:g} min, once: enter it in the LightBox web app, "
        'or POST /api/v1/pair {"code": "' + code + '", "name": "my phone"}'
    )
