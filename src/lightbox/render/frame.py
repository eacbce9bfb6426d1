"""Frames: ``H x W x 3`` numpy arrays of ``uint8`` (sRGB, row-major, top-left origin).

A layer may also carry an alpha mask (``H x W`` ``uint8``, 255 = opaque); a frame without
one is fully opaque.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Frame = npt.NDArray[np.uint8]
"""``H x W x 3`` uint8."""

Mask = npt.NDArray[np.uint8]
"""``H x W`` uint8 alpha, 255 = opaque."""


@dataclass(frozen=True, slots=True)
class Size:
    width: int
    height: int

    @classmethod
    def parse(cls, text: str) -> Size:
        """Parse ``"WxH"`` (e.g. ``"64x32"``)."""
        try:
            w, h = text.lower().split("x")
            size = cls(int(w), int(h))
        except ValueError as err:
            raise ValueError(f"size {text!r} is not WxH, e.g. 64x32") from err
        if not (1 <= size.width <= 4096 and 1 <= size.height <= 4096):
            raise ValueError(f"size {text!r}: width and height must be 1..4096")
        return size

    def __str__(self) -> str:
        return f"{self.width}x{self.height}"


def blank(width: int, height: int) -> Frame:
    """A black frame."""
    return np.zeros((height, width, 3), dtype=np.uint8)


def filled(width: int, height: int, rgb: tuple[int, int, int]) -> Frame:
    frame = np.empty((height, width, 3), dtype=np.uint8)
    frame[...] = rgb
    return frame


@dataclass(slots=True)
class Layer:
    """A rendered layer: RGB plus an optional alpha mask."""

    rgb: Frame
    alpha: Mask | None = None
