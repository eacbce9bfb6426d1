"""The ``lightbox`` command."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from lightbox import __version__

app = typer.Typer(
    name="lightbox",
    help="LightBox: an open-source LED matrix control system.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        console.print(f"lightbox {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print version.")
    ] = False,
) -> None:
    """LightBox: an open-source LED matrix control system."""


@app.command()
def render(
    scene: Annotated[str, typer.Argument(help="Effect name, JSON scene, or path to a JSON file.")],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="OUT.png (last frame) or OUT.gif.")
    ],
    size: Annotated[str, typer.Option(help="Canvas size WxH.")] = "64x32",
    frames: Annotated[int, typer.Option(min=1, max=10_000, help="Frames to render.")] = 1,
    fps: Annotated[float, typer.Option(min=1, max=240, help="Frames per second.")] = 30.0,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="key=value (repeatable).")
    ] = None,
    media_dir: Annotated[Path, typer.Option(help="Where image/gif scenes find media.")] = Path("."),
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same frames).")] = 0,
    timezone: Annotated[str, typer.Option(help="Time zone for clocks.")] = "UTC",
    start_time: Annotated[
        float, typer.Option(help="Wall time at the first frame, Unix seconds (clocks).")
    ] = 0.0,
) -> None:
    """Render a scene with no service: PNG of the last frame, or an animated GIF."""
    from lightbox.cli.render import RenderError, parse_scene, render_frames, write_output
    from lightbox.render.frame import Size

    try:
        parsed = parse_scene(scene, param or [])
        frame_list = render_frames(
            parsed,
            Size.parse(size),
            frames,
            fps,
            media_dir=media_dir,
            seed=seed,
            start_wall=start_time,
            timezone=timezone,
        )
        write_output(frame_list, output, fps)
    except (RenderError, ValueError) as err:
        err_console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from err
    console.print(f"wrote {output} ({len(frame_list)} frame{'s' * (len(frame_list) > 1)}, {size})")


@app.command()
def effects(
    as_json: Annotated[bool, typer.Option("--json", help="Print the catalogue as JSON.")] = False,
) -> None:
    """List every built-in effect and its parameters."""
    from lightbox.protocol.catalog import EFFECTS, PALETTES

    if as_json:
        data = {
            "effects": [e.model_dump(mode="json") for e in EFFECTS],
            "palettes": [p.model_dump(mode="json") for p in PALETTES],
        }
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    table = Table(title=f"{len(EFFECTS)} effects", show_lines=False)
    table.add_column("effect", style="bold")
    table.add_column("description")
    table.add_column("parameters")
    for info in EFFECTS:
        common = [
            n
            for n, used in (
                ("speed", info.uses_speed),
                ("intensity", info.uses_intensity),
                ("palette", info.uses_palette),
            )
            if used
        ]
        if info.uses_colors:
            common.append(f"colors[{info.uses_colors}]")
        extra = [
            f"{p.name} ({p.type}"
            + (
                f" {p.minimum:g}..{p.maximum:g}"
                if p.minimum is not None and p.maximum is not None
                else ""
            )
            + (f" {'|'.join(p.choices)}" if p.choices else "")
            + f", default {p.default})"
            for p in info.params
        ]
        table.add_row(info.name, info.description, ", ".join(common + extra))
    console.print(table)
    console.print("palettes: " + ", ".join(p.name for p in PALETTES))


@app.command()
def fonts() -> None:
    """List the fonts for text and clock scenes."""
    from lightbox.render.fonts import font_info

    table = Table(title="fonts")
    for column in ("name", "kind", "cell", "line height", "glyphs", "coverage", "origin"):
        table.add_column(column)
    for info in font_info():
        cell = f"{info.cell_width}x{info.line_height}" if info.kind == "bitmap" else "any"
        glyphs = str(info.glyph_count) if info.glyph_count else "-"
        table.add_row(
            info.name, info.kind, cell, str(info.line_height), glyphs, info.coverage, info.origin
        )
    console.print(table)


@app.command()
def schema() -> None:
    """Print the JSON Schema of the wire contract (commands, state, settings...)."""
    from lightbox.protocol.schema import json_schema

    sys.stdout.write(json.dumps(json_schema(), indent=2) + "\n")


@app.command()
def demo(
    host: Annotated[str, typer.Option(help="Address to serve on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port of the LightBox (0: any free).")] = 8080,
    size: Annotated[str, typer.Option(help="Matrix size WxH.")] = "64x32",
    seconds: Annotated[float, typer.Option(help="Stop after this long (0: run until Ctrl-C).")] = 0,
) -> None:
    """Run a LightBox (emulator, embedded broker, showcase) and a local cloud; print the URLs."""
    from lightbox.demo import run_demo
    from lightbox.render.frame import Size

    run_demo(host=host, port=port, size=Size.parse(size), seconds=seconds)


def _register_subcommands() -> None:
    """Sub-apps live in their own modules; each imports its heavy parts lazily."""
    from lightbox.cli.client import claim, devices, login, preset_app, send, set_, status
    from lightbox.cli.cloud import cloud_app
    from lightbox.cli.discover import discover
    from lightbox.cli.edge import edge_app
    from lightbox.cli.edge_pairing import pair_code
    from lightbox.release.cli import release_app

    edge_app.command("pair-code")(pair_code)
    app.add_typer(edge_app, name="edge")
    app.add_typer(cloud_app, name="cloud")
    app.add_typer(release_app, name="release")
    app.command()(discover)
    for command in (login, devices, claim, status, send):
        app.command()(command)
    app.command("set")(set_)
    app.add_typer(preset_app, name="preset")


_register_subcommands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
