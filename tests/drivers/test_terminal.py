"""The terminal view: exact escape output, unchanged-frame skipping and rate limiting."""

from __future__ import annotations

import io

import numpy as np

from lightbox.drivers.terminal import TerminalOutput, render_halfblocks
from lightbox.protocol.settings import MatrixSettings
from tests.drivers.helpers import output_frame

E = "\x1b"


def test_render_exact_tiny_frame() -> None:
    pixels = np.array(
        [
            [[255, 0, 0], [255, 0, 0], [1, 2, 3]],
            [[0, 0, 255], [0, 255, 0], [0, 255, 0]],
            [[9, 9, 9], [9, 9, 9], [9, 9, 9]],
        ],
        dtype=np.uint8,
    )
    expected = (
        f"{E}[H"
        f"{E}[38;2;255;0;0m{E}[48;2;0;0;255m▀"
        f"{E}[48;2;0;255;0m▀"  # same upper colour: no foreground escape
        f"{E}[38;2;1;2;3m▀"  # same lower colour: no background escape
        f"{E}[0m\n"
        f"{E}[38;2;9;9;9m{E}[48;2;0;0;0m▀▀▀"  # odd height: the last row is over black
        f"{E}[0m\n"
    )
    assert render_halfblocks(pixels) == expected


def test_show_writes_skips_and_limits() -> None:
    matrix = MatrixSettings(width=2, height=2)
    stream = io.StringIO()
    now = [0.0]
    terminal = TerminalOutput(stream, max_fps=10, clock=lambda: now[0])
    frame = output_frame(matrix, "canvas")
    with terminal:
        assert stream.getvalue() == f"{E}[2J{E}[?25l"
        terminal.show(frame)
        first = stream.getvalue()
        assert first.endswith(render_halfblocks(frame.pixels))
        other = output_frame(matrix, "canvas", np.full((2, 2, 3), 5, np.uint8))
        now[0] = 0.05
        terminal.show(other)  # too soon after the last write: dropped
        assert stream.getvalue() == first
        now[0] = 1.0
        terminal.show(frame)  # unchanged: skipped
        assert stream.getvalue() == first
        now[0] = 1.2
        terminal.show(other)
        assert stream.getvalue() == first + render_halfblocks(other.pixels)
    assert stream.getvalue().endswith(f"{E}[0m{E}[?25h\n")
    assert terminal.frames_shown == 4
    assert terminal.frames_written == 2


def test_render_128x128_is_quick() -> None:
    pixels = np.random.default_rng(3).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    text = render_halfblocks(pixels)
    assert text.count("▀") == 128 * 64
    assert text.count("\n") == 64
