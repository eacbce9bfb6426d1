"""What machine a benchmark ran on, and how fast it runs Python: to compare runs.

The benchmarks here run on shared 2-core VMs whose speed differs from one to the next by
a factor of two or more. Each prints :func:`describe` first, so that figures from two
machines can be put side by side: the CPU, the cores, and the time one core takes for a
fixed pure-Python loop (the interpreter work that dominates the LightBox's hot paths), and
the event loop the services run on (see :mod:`lightbox.aio`).
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

from lightbox import aio

LOOP = 10_000_000


def python_loop_s(repeats: int = 3) -> float:
    """Best of ``repeats`` timings of ``LOOP`` additions in a Python for loop."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        total = 0
        for i in range(LOOP):
            total += i
        best = min(best, time.perf_counter() - started)
    return best


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe() -> str:
    """One line: CPU, cores, Python version, the reference loop's time, the event loop."""
    return (
        f"machine: {cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"reference loop ({LOOP:,} additions) {python_loop_s():.2f} s; event loop {aio.describe()}"
    )


if __name__ == "__main__":
    print(describe())
