"""Render benchmark: the cost of each built-in effect, plus the output stage, per frame.

For every effect and canvas size it times ``effect.render(t)`` followed by
``OutputStage.process(frame, brightness)`` (if the output stage can be imported; otherwise
render only, with a note) over a 60 fps timeline, and reports the median and p99 per frame.
Beside it, measured in the same run and on the same-sized frames, is a floor: one numpy
gamma-LUT pass ``lut[frame]``, the least any frame can cost on the way to the LEDs. The ratio
says how many such passes an effect costs.

    .venv/bin/python bench/render.py --quick
    .venv/bin/python bench/render.py --sizes 64x32,128x128 --effects plasma,fire --frames 500

The last line printed is always
``render: worst 128x128 <effect> <ms> ms/frame, <ratio>x floor``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from lightbox.render.effects import EffectParams, create_effect, effect_names
from lightbox.render.frame import Frame, Size

DEFAULT_SIZES = ("64x64", "128x64", "128x128", "256x256")
HEADLINE = Size(128, 128)
FPS = 60.0
BRIGHTNESS = 200


@dataclass(frozen=True)
class Result:
    effect: str
    size: Size
    median_ms: float
    p99_ms: float
    floor_ms: float

    @property
    def ratio(self) -> float:
        return self.median_ms / self.floor_ms if self.floor_ms > 0 else float("inf")


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def output_factory(console: Console) -> Callable[[Size], Callable[[Frame], object]] | None:
    """A builder of ``frame -> output`` for a size, or None when the output stage is absent."""
    try:
        from lightbox.protocol.settings import MatrixSettings, OutputSettings
        from lightbox.render.output import OutputStage
    except ImportError as err:
        console.print(f"[yellow]note: output stage not importable ({err}); timing render only")
        return None

    def build(size: Size) -> Callable[[Frame], object]:
        stage = OutputStage(MatrixSettings(width=size.width, height=size.height), OutputSettings())
        return lambda frame: stage.process(frame, BRIGHTNESS)

    return build


def measure_floor(size: Size, frames: int) -> float:
    """Median ms of one gamma-LUT pass ``lut[frame]`` over an ``H x W x 3`` uint8 frame."""
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (size.height, size.width, 3), dtype=np.uint8)
    lut = np.rint((np.arange(256) / 255.0) ** 2.2 * 255).astype(np.uint8)
    samples = []
    for _ in range(max(frames, 50)):
        start = time.perf_counter_ns()
        lut[frame]
        samples.append((time.perf_counter_ns() - start) / 1e6)
    return statistics.median(samples)


def measure(
    name: str,
    size: Size,
    frames: int,
    floor_ms: float,
    output: Callable[[Size], Callable[[Frame], object]] | None,
) -> Result:
    effect = create_effect(name, size.width, size.height, EffectParams(), seed=0)
    process = output(size) if output is not None else None
    warmup = 10
    samples = []
    for i in range(warmup + frames):
        t = i / FPS
        start = time.perf_counter_ns()
        frame = effect.render(t)
        if process is not None:
            process(frame)
        elapsed = (time.perf_counter_ns() - start) / 1e6
        if i >= warmup:
            samples.append(elapsed)
    return Result(name, size, statistics.median(samples), percentile(samples, 99), floor_ms)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer frames (finishes < 60 s)")
    parser.add_argument("--sizes", default=",".join(DEFAULT_SIZES), help="e.g. 64x32,128x128")
    parser.add_argument("--effects", default="", help="comma-separated names (default: all)")
    parser.add_argument("--frames", type=int, default=0, help="timed frames per case")
    args = parser.parse_args(argv)

    console = Console(width=max(Console().width, 150))
    sizes = [Size.parse(s) for s in args.sizes.split(",") if s.strip()]
    if HEADLINE not in sizes:
        console.print(f"note: adding {HEADLINE} for the headline figure")
        sizes.append(HEADLINE)
    names = [n.strip() for n in args.effects.split(",") if n.strip()] or effect_names()
    unknown = sorted(set(names) - set(effect_names()))
    if unknown:
        parser.error(f"unknown effects {', '.join(unknown)}; known: {', '.join(effect_names())}")
    frames = args.frames or (60 if args.quick else 300)
    output = output_factory(console)
    what = "render + output stage" if output is not None else "render only"

    results: list[Result] = []
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("benchmarking", total=len(sizes) * len(names))
        for size in sizes:
            floor_ms = measure_floor(size, frames)
            for name in names:
                progress.update(task, description=f"{size} {name}")
                results.append(measure(name, size, frames, floor_ms, output))
                progress.advance(task)

    table = Table(title=f"Effects: {what}, ms per frame ({frames} frames, 60 fps timeline)")
    table.add_column("effect")
    for size in sizes:
        table.add_column(f"{size}\nmedian / p99 (x floor)", justify="right")
    by_key = {(r.effect, r.size): r for r in results}
    for name in names:
        cells = [by_key[(name, size)] for size in sizes]
        table.add_row(
            name, *(f"{r.median_ms:.3f} / {r.p99_ms:.3f} ({r.ratio:.1f}x)" for r in cells)
        )
    table.add_row(
        "floor: lut\\[frame]",
        *(f"{by_key[(names[0], size)].floor_ms:.3f}" for size in sizes),
        style="dim",
    )
    console.print(table)

    worst = max((r for r in results if r.size == HEADLINE), key=lambda r: r.median_ms)
    print(
        f"render: worst {HEADLINE} {worst.effect} {worst.median_ms:.3f} ms/frame, "
        f"{worst.ratio:.1f}x floor"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
