"""Shared building blocks of the built-in effects.

- ``Grid``: precomputed pixel coordinates (centred, in units of the longest side, so
  shapes stay round on non-square matrices), radius and angle.
- palette helpers: turn float or integer index arrays into frames with one ``np.take``.
- ``Clock`` and ``Stepper``: turn the sequence of ``t`` into an elapsed time or a whole
  number of fixed simulation steps, so stateful effects run at the same speed at any fps
  and give the same frames for the same ``t`` sequence.
- ``ValueNoise``: smooth, tileable 3D value noise, sampled on the (separable) pixel grid
  cheaply: only the small lattice table is interpolated in z and x, pixels just gather
  rows and blend once.
- ``splat``: draw many particles (optionally as anti-aliased discs) into a float buffer.
"""

from __future__ import annotations

import math
from functools import cached_property

import numpy as np
import numpy.typing as npt

from lightbox.render.effects.base import Effect
from lightbox.render.frame import Frame
from lightbox.render.palettes import Lut, palette_lut

F32 = npt.NDArray[np.float32]
I32 = npt.NDArray[np.int32]

MAX_DT = 0.25
"""The longest step a stateful effect takes at once (a paused engine does not explode)."""


def speed_rate(speed: int) -> float:
    """Speed 0..255 as a rate multiplier: 128 -> 1.0, 0 -> ~0.18, 255 -> ~5.6."""
    return float(2.0 ** ((speed - 128) / 51.2))


def unit(value: int) -> float:
    """A 0..255 parameter as 0.0..1.0."""
    return min(max(value, 0), 255) / 255.0


def smoothstep(x: F32) -> F32:
    return x * x * (3.0 - 2.0 * x)


class Grid:
    """Pixel-centre coordinates of a ``width x height`` canvas.

    ``x`` (``W``) and ``y`` (``H``) are centred on the canvas and scaled so the longest side
    spans 1.0; ``u`` and ``v`` go 0..1 across each side. ``r`` and ``angle`` are full
    ``H x W`` arrays, computed on first use.
    """

    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        self.scale = 1.0 / max(width, height)
        self.x: F32 = ((np.arange(width) - (width - 1) / 2) * self.scale).astype(np.float32)
        self.y: F32 = ((np.arange(height) - (height - 1) / 2) * self.scale).astype(np.float32)
        self.u: F32 = ((np.arange(width) + 0.5) / width).astype(np.float32)
        self.v: F32 = ((np.arange(height) + 0.5) / height).astype(np.float32)
        self.px: F32 = np.arange(width, dtype=np.float32)
        self.py: F32 = np.arange(height, dtype=np.float32)

    @cached_property
    def r(self) -> F32:
        return np.hypot(self.x[None, :], self.y[:, None]).astype(np.float32)

    @cached_property
    def angle(self) -> F32:
        """Angle around the centre in turns (0..1), 0 pointing right, clockwise on screen."""
        turns = np.arctan2(self.y[:, None], self.x[None, :]) / (2 * np.pi)
        return np.mod(turns, 1.0).astype(np.float32)


def effect_palette(effect: Effect) -> Lut:
    params = effect.params
    name = params.palette or effect.info.default_palette or "rainbow"
    return palette_lut(name, params.colors)


def wrap_index(values: F32) -> I32:
    """Float palette positions (1.0 = once round the palette) to indices 0..255, wrapping."""
    return (values * 256.0).astype(np.int32) & 255


def clamp_index(values: F32) -> I32:
    """Float positions 0..1 to indices 0..255, clamping."""
    return np.asarray(np.clip(values * 255.0, 0.0, 255.0), dtype=np.int32)


def lookup(lut: npt.NDArray[np.uint8], index: I32) -> Frame:
    """Map an ``H x W`` index array through a ``N x 3`` LUT to a new frame."""
    return np.take(lut, index, axis=0)


def shaded(lut: Lut, levels: int = 64) -> npt.NDArray[np.uint8]:
    """A ``(levels * 256) x 3`` LUT: entry ``level * 256 + i`` is ``lut[i]`` dimmed to
    ``level / (levels - 1)``, so palette colour and brightness are one gather."""
    scale = np.linspace(0.0, 1.0, levels, dtype=np.float32)[:, None, None]
    table = np.rint(lut[None, :, :].astype(np.float32) * scale)
    return np.asarray(table.reshape(levels * 256, 3), dtype=np.uint8)


def shaded_index(index: I32, brightness: F32, levels: int = 64) -> I32:
    """Combine palette indices (0..255) and brightness (0..1) into ``shaded`` indices."""
    level = np.asarray(np.clip(brightness * (levels - 1) + 0.5, 0, levels - 1), dtype=np.int32)
    level <<= 8
    level |= index
    return level


def to_frame(buf: F32) -> Frame:
    """A float ``H x W x 3`` buffer (0..255) as a new uint8 frame."""
    return np.clip(buf, 0.0, 255.0).astype(np.uint8)


def color(effect: Effect, i: int, default: tuple[int, int, int]) -> F32:
    """Scene colour ``i`` (or ``default``) as a float32 ``(3,)`` array."""
    colors = effect.params.colors
    chosen = tuple(colors[i]) if i < len(colors) else default
    return np.array(chosen, dtype=np.float32)


def extra(effect: Effect, name: str) -> int | float | bool | str:
    """An effect-specific parameter: from ``params.extra`` or the catalogue default."""
    for spec in effect.info.params:
        if spec.name == name:
            return effect.params.extra.get(name, spec.default)
    raise KeyError(f"{effect.info.name} has no parameter {name!r}")


def extra_int(effect: Effect, name: str) -> int:
    value = extra(effect, name)
    return int(value) if isinstance(value, int | float) else 0


def extra_bool(effect: Effect, name: str) -> bool:
    return bool(extra(effect, name))


class Clock:
    """Elapsed time between successive ``t``: never negative, never more than ``MAX_DT``."""

    def __init__(self) -> None:
        self.last: float | None = None

    def dt(self, t: float) -> float:
        last, self.last = self.last, t
        if last is None:
            return 0.0
        return min(max(t - last, 0.0), MAX_DT)


class Stepper:
    """How many fixed steps of ``1 / rate`` seconds fall due at ``t`` (at most ``max_steps``).

    The fractional remainder is carried over, so the step rate is independent of fps.
    """

    def __init__(self, rate: float, max_steps: int = 8) -> None:
        self.period = 1.0 / max(rate, 1e-6)
        self.max_steps = max_steps
        self.clock = Clock()
        self.acc = 0.0

    def steps(self, t: float) -> int:
        self.acc += self.clock.dt(t)
        n = int(self.acc / self.period + 1e-6)  # float sums of dt land a hair short
        self.acc -= n * self.period
        if n > self.max_steps:
            n = self.max_steps
            self.acc = 0.0
        return n


class ValueNoise:
    """Tileable 3D value noise in 0..1 with smoothstep interpolation."""

    def __init__(self, rng: np.random.Generator, period: int = 64, depth: int = 32) -> None:
        self.period = period
        self.depth = depth
        self.table: F32 = rng.random((depth, period, period), dtype=np.float32)

    def _slice(self, z: float) -> F32:
        zf = math.floor(z)
        s = z - zf
        s = s * s * (3.0 - 2.0 * s)
        z0 = int(zf) % self.depth
        z1 = (z0 + 1) % self.depth
        mixed = self.table[z0] * np.float32(1.0 - s) + self.table[z1] * np.float32(s)
        return np.asarray(mixed, dtype=np.float32)

    def _axis(self, coords: F32) -> tuple[I32, I32, F32]:
        floor = np.floor(coords)
        frac = smoothstep((coords - floor).astype(np.float32))
        i0 = floor.astype(np.int32) % self.period
        i1 = (i0 + 1) % self.period
        return i0, i1, frac

    def plane(self, xs: F32, ys: F32, z: float) -> F32:
        """Noise at lattice coordinates ``(ys[:, None], xs[None, :])`` and depth ``z``."""
        tab = self._slice(z)
        x0, x1, sx = self._axis(xs)
        y0, y1, sy = self._axis(ys)
        rows = tab[:, x0] * (1.0 - sx) + tab[:, x1] * sx  # period x W
        top = np.take(rows, y0, axis=0)
        bottom = np.take(rows, y1, axis=0)
        bottom -= top
        bottom *= sy[:, None]
        bottom += top
        return bottom

    def line(self, xs: F32, z: float, row: int = 0) -> F32:
        """1D noise along ``xs`` (one lattice row), at depth ``z``."""
        tab = self._slice(z)[row % self.period]
        x0, x1, sx = self._axis(xs)
        return tab[x0] * (1.0 - sx) + tab[x1] * sx  # type: ignore[no-any-return]


def disc_offsets(radius: float) -> tuple[I32, I32, F32]:
    """Pixel offsets covering a disc of ``radius`` and their anti-aliased coverage."""
    reach = max(0, math.ceil(radius))
    span = np.arange(-reach, reach + 1, dtype=np.int32)
    dy, dx = np.meshgrid(span, span, indexing="ij")
    dist = np.hypot(dx, dy).astype(np.float32)
    weight = np.clip(radius + 0.5 - dist, 0.0, 1.0).astype(np.float32)
    keep = weight > 0
    if not keep.any():
        keep[reach, reach] = True
        weight[reach, reach] = 1.0
    return dx[keep], dy[keep], weight[keep]


def splat(
    buf: F32,
    xs: F32,
    ys: F32,
    colors: F32,
    offsets: tuple[I32, I32, F32] | None = None,
) -> None:
    """Draw points at ``(xs, ys)`` (pixels) with ``colors`` (``N x 3``, 0..255) into ``buf``
    (``H x W x 3``), keeping the brighter value where they overlap."""
    height, width = buf.shape[:2]
    xi = np.floor(xs + 0.5).astype(np.int32)
    yi = np.floor(ys + 0.5).astype(np.int32)
    if offsets is not None:
        dx, dy, weight = offsets
        xi = (xi[:, None] + dx[None, :]).ravel()
        yi = (yi[:, None] + dy[None, :]).ravel()
        colors = (colors[:, None, :] * weight[None, :, None]).reshape(-1, 3)
    inside = (xi >= 0) & (xi < width) & (yi >= 0) & (yi < height)
    flat = (yi[inside] * width + xi[inside]).astype(np.intp)
    np.maximum.at(buf.reshape(-1, 3), flat, colors[inside])
