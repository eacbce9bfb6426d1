"""A truecolour terminal view: two matrix rows per text line with the upper half block.

Each cell is ``▀`` with the foreground set to the upper pixel and the background to the
lower one (24-bit SGR escapes). The escapes are looked up from 256-entry string tables per
channel and joined once per frame; a colour equal to the previous cell's is not repeated.
Frames are drawn from the cursor-home position, unchanged frames are skipped and the rate
is capped (frames arriving faster than ``max_fps`` are dropped).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import ClassVar, TextIO

import numpy as np
import numpy.typing as npt

from lightbox.drivers.base import Driver, DriverIOError
from lightbox.render.output import Layout, OutputFrame

__all__ = ["TerminalOutput", "render_halfblocks"]

HOME = "\x1b[H"
CLEAR = "\x1b[2J"
HIDE_CURSOR = "\x1b[?25l"
SHOW_CURSOR = "\x1b[?25h"
RESET = "\x1b[0m"
UPPER_HALF = "▀"

_V = range(256)
_FG_R = np.array([f"\x1b[38;2;{v};" for v in _V], dtype=object)
_BG_R = np.array([f"\x1b[48;2;{v};" for v in _V], dtype=object)
_MID = np.array([f"{v};" for v in _V], dtype=object)
_END = np.array([f"{v}m" for v in _V], dtype=object)


def _color_parts(
    rgb: npt.NDArray[np.uint8], first: npt.NDArray[np.object_]
) -> list[npt.NDArray[np.object_]]:
    """Escape pieces for every cell; empty where the colour equals the previous cell's."""
    changed = np.ones(rgb.shape[:2], dtype=bool)
    changed[:, 1:] = np.any(rgb[:, 1:] != rgb[:, :-1], axis=2)
    pieces = [first[rgb[..., 0]], _MID[rgb[..., 1]], _END[rgb[..., 2]]]
    return [np.where(changed, piece, "") for piece in pieces]


def render_halfblocks(pixels: npt.NDArray[np.uint8]) -> str:
    """One frame as text: cursor home, then ``ceil(H / 2)`` lines of ``W`` cells.

    An odd last row is drawn over black.
    """
    height, width = pixels.shape[:2]
    if height % 2:
        pixels = np.concatenate([pixels, np.zeros((1, width, 3), np.uint8)])
    upper, lower = pixels[0::2], pixels[1::2]
    lines = upper.shape[0]
    block = np.full((lines, width), UPPER_HALF, dtype=object)
    cells = np.stack(
        [*_color_parts(upper, _FG_R), *_color_parts(lower, _BG_R), block],
        axis=2,
    ).reshape(lines, width * 7)
    ends = np.full((lines, 1), RESET + "\n", dtype=object)
    return HOME + "".join(np.concatenate([cells, ends], axis=1).ravel().tolist())


class TerminalOutput(Driver):
    """Draws frames on a text stream (default: ``sys.stdout`` at the time of drawing)."""

    layout: ClassVar[Layout] = "canvas"

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        max_fps: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._stream = stream
        self._interval = 1.0 / max_fps if max_fps > 0 else 0.0
        self._clock = clock
        self._last: npt.NDArray[np.uint8] | None = None
        self._last_time: float | None = None
        self.frames_written = 0

    @property
    def stream(self) -> TextIO:
        return self._stream if self._stream is not None else sys.stdout

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError) as err:  # closed pipe or closed stream
            raise DriverIOError(f"cannot write to the terminal: {err}") from err

    def _open(self) -> None:
        self._write(CLEAR + HIDE_CURSOR)
        self._last = None
        self._last_time = None

    def _close(self) -> None:
        self._write(RESET + SHOW_CURSOR + "\n")

    def show(self, frame: OutputFrame) -> None:
        self._check(frame)
        self.frames_shown += 1
        now = self._clock()
        if self._last_time is not None and now - self._last_time < self._interval:
            return
        if self._last is not None and np.array_equal(self._last, frame.pixels):
            return
        self._write(render_halfblocks(frame.pixels))
        self._last = frame.pixels.copy()
        self._last_time = now
        self.frames_written += 1
