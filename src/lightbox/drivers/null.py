"""A driver that discards frames (benchmarks, headless tests)."""

from __future__ import annotations

from typing import ClassVar

from lightbox.drivers.base import Driver
from lightbox.render.output import Layout, OutputFrame

__all__ = ["NullOutput"]


class NullOutput(Driver):
    """Discards every frame; counts them and keeps the last one's current estimate."""

    layout: ClassVar[Layout] = "canvas"

    def __init__(self) -> None:
        super().__init__()
        self.last_estimated_ma = 0.0

    def show(self, frame: OutputFrame) -> None:
        self.frames_shown += 1
        self.last_estimated_ma = frame.estimated_ma
