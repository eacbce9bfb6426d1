"""``lightbox discover``: list the LightBoxes on the LAN (mDNS / DNS-SD)."""

from __future__ import annotations

import asyncio
import dataclasses
import json as jsonlib
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def discover(
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.2, max=60, help="Seconds to listen.")
    ] = 3.0,
    json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    interface: Annotated[
        list[str] | None,
        typer.Option("--interface", help="Listen only on this IPv4 address (repeatable)."),
    ] = None,
) -> None:
    """List the LightBoxes on this network (mDNS, service _lightbox._tcp)."""
    from lightbox.edge.discovery import discover as browse

    found = asyncio.run(browse(timeout=timeout, interfaces=interface or None))
    if json:
        rows = [{**dataclasses.asdict(f), "url": f.url} for f in found]
        sys.stdout.write(jsonlib.dumps(rows, indent=2) + "\n")
        return
    if not found:
        console.print(
            f"no LightBox answered within {timeout:g} s (same network? multicast allowed?)"
        )
        return
    table = Table(title=f"{len(found)} LightBox{'es' * (len(found) > 1)}")
    for column in ("name", "id", "address", "version", "paired", "API"):
        table.add_column(column)
    for f in found:
        table.add_row(
            f.name,
            f.id,
            ", ".join(f.addresses) or f.host,
            f.version,
            "yes" if f.paired else "no",
            f.url or "-",
        )
    console.print(table)
