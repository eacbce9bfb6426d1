"""Palettes: 256-entry colour look-up tables built from gradient stops.

An effect computes an index (0..255) per pixel and looks the colour up in a palette, so
one effect can be shown in many colour schemes. Every palette is a ``256 x 3`` ``uint8``
array, linearly interpolated (in sRGB) between a handful of stops. Cyclic palettes
(``rainbow``, ``party`` ...) end where they begin, so an index that wraps around 255 -> 0
shows no seam; ramps (``heat``, ``fire``, ``ice``) go from dark to bright.

``colors`` is built from a scene's own colours (up to three): one colour gives a solid
palette, two or three give a cyclic gradient through them.

The names here are exactly those of ``lightbox.protocol.catalog.PALETTES`` (a test checks).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from lightbox.protocol.color import RGB

Lut = npt.NDArray[np.uint8]
"""``256 x 3`` uint8."""

Stop = tuple[int, tuple[int, int, int]]

# (position 0..255, colour); positions strictly increasing, first 0 and last 255.
_STOPS: dict[str, tuple[Stop, ...]] = {
    "rainbow": (
        (0, (255, 0, 0)),
        (32, (255, 96, 0)),
        (64, (255, 220, 0)),
        (96, (0, 255, 0)),
        (128, (0, 200, 200)),
        (160, (0, 0, 255)),
        (192, (140, 0, 255)),
        (224, (255, 0, 150)),
        (255, (255, 0, 0)),
    ),
    "party": (
        (0, (90, 0, 170)),
        (28, (180, 0, 80)),
        (56, (235, 20, 10)),
        (84, (185, 75, 0)),
        (112, (170, 170, 0)),
        (140, (220, 40, 0)),
        (168, (200, 0, 60)),
        (196, (140, 0, 115)),
        (224, (45, 0, 210)),
        (255, (90, 0, 170)),
    ),
    "ocean": (
        (0, (0, 10, 60)),
        (48, (0, 40, 140)),
        (96, (0, 110, 200)),
        (144, (0, 190, 210)),
        (176, (80, 230, 200)),
        (208, (0, 120, 180)),
        (255, (0, 10, 60)),
    ),
    "forest": (
        (0, (0, 50, 0)),
        (56, (20, 110, 10)),
        (104, (85, 140, 20)),
        (152, (150, 190, 40)),
        (200, (30, 120, 50)),
        (255, (0, 50, 0)),
    ),
    "lava": (
        (0, (0, 0, 0)),
        (48, (90, 0, 0)),
        (96, (200, 10, 0)),
        (144, (255, 90, 0)),
        (176, (255, 200, 60)),
        (208, (210, 40, 0)),
        (255, (0, 0, 0)),
    ),
    "heat": (
        (0, (0, 0, 0)),
        (85, (255, 0, 0)),
        (170, (255, 255, 0)),
        (255, (255, 255, 255)),
    ),
    "fire": (
        (0, (0, 0, 0)),
        (60, (120, 0, 0)),
        (120, (230, 40, 0)),
        (190, (255, 140, 0)),
        (255, (255, 230, 60)),
    ),
    "cloud": (
        (0, (0, 40, 160)),
        (64, (90, 150, 255)),
        (128, (240, 245, 255)),
        (192, (130, 190, 255)),
        (255, (0, 40, 160)),
    ),
    "sunset": (
        (0, (40, 0, 80)),
        (48, (150, 0, 110)),
        (96, (240, 30, 60)),
        (144, (255, 110, 0)),
        (184, (255, 200, 40)),
        (216, (200, 60, 60)),
        (255, (40, 0, 80)),
    ),
    "aurora": (
        (0, (0, 10, 40)),
        (64, (0, 200, 70)),
        (112, (0, 255, 150)),
        (160, (0, 140, 170)),
        (208, (130, 30, 200)),
        (255, (0, 10, 40)),
    ),
    "ice": (
        (0, (0, 0, 20)),
        (80, (0, 40, 160)),
        (160, (60, 170, 255)),
        (220, (180, 235, 255)),
        (255, (255, 255, 255)),
    ),
    "pastel": (
        (0, (255, 170, 190)),
        (43, (255, 205, 160)),
        (85, (250, 245, 160)),
        (128, (170, 240, 190)),
        (170, (160, 210, 255)),
        (213, (205, 175, 255)),
        (255, (255, 170, 190)),
    ),
}

DEFAULT_COLORS: tuple[RGB, RGB, RGB] = (RGB(255, 120, 0), RGB(0, 90, 255), RGB(255, 255, 255))
"""What ``colors`` shows when a scene gives no colours."""

PALETTE_NAMES: tuple[str, ...] = (*_STOPS, "colors")


def gradient(stops: Sequence[Stop]) -> Lut:
    """A ``256 x 3`` LUT interpolated linearly between ``stops`` (vectorised)."""
    positions = np.array([p for p, _ in stops], dtype=np.float32)
    colours = np.array([c for _, c in stops], dtype=np.float32)
    index = np.arange(256, dtype=np.float32)
    channels = [np.interp(index, positions, colours[:, ch]) for ch in range(3)]
    lut = np.rint(np.stack(channels, axis=1)).clip(0, 255).astype(np.uint8)
    lut.setflags(write=False)
    return lut


@lru_cache(maxsize=64)
def _named(name: str) -> Lut:
    return gradient(_STOPS[name])


@lru_cache(maxsize=64)
def _from_colors(colors: tuple[RGB, ...]) -> Lut:
    chosen = colors[:3] if colors else DEFAULT_COLORS
    if len(chosen) == 1:
        c = tuple(chosen[0])
        return gradient(((0, (c[0], c[1], c[2])), (255, (c[0], c[1], c[2]))))
    step = 256 / len(chosen)
    stops: list[Stop] = [
        (round(i * step), (int(c[0]), int(c[1]), int(c[2]))) for i, c in enumerate(chosen)
    ]
    first = chosen[0]
    stops.append((255, (int(first[0]), int(first[1]), int(first[2]))))
    return gradient(stops)


def palette_lut(name: str, colors: Sequence[RGB] = ()) -> Lut:
    """The read-only ``256 x 3`` uint8 LUT of palette ``name``.

    ``colors`` is only read by the ``colors`` palette. Raises ``KeyError`` for an unknown
    name, listing the known ones.
    """
    if name == "colors":
        return _from_colors(tuple(RGB(*c) for c in colors))
    if name not in _STOPS:
        raise KeyError(f"unknown palette {name!r}; known palettes: {', '.join(PALETTE_NAMES)}")
    return _named(name)
