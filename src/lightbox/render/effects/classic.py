"""Classic, stateless colour effects: rainbow, gradient, breathe, twinkle."""

from __future__ import annotations

import math

import numpy as np

from lightbox.protocol.catalog import effect_info
from lightbox.render.effects._common import (
    Grid,
    color,
    effect_palette,
    extra,
    extra_int,
    lookup,
    shaded,
    shaded_index,
    speed_rate,
    unit,
)
from lightbox.render.effects.base import Effect, EffectParams
from lightbox.render.frame import Frame
from lightbox.render.palettes import DEFAULT_COLORS


class Rainbow(Effect):
    """The palette in bands at ``angle``; intensity sets the number of repeats across."""

    info = effect_info("rainbow")

    def __init__(self, width: int, height: int, params: EffectParams, seed: int = 0) -> None:
        super().__init__(width, height, params, seed)
        grid = Grid(width, height)
        theta = math.radians(extra_int(self, "angle"))
        repeats = 0.5 + 3.5 * unit(params.intensity)
        base = grid.x[None, :] * math.cos(theta) + grid.y[:, None] * math.sin(theta)
        self.pos = (base * (repeats * 256.0)).astype(np.float32)
        self.lut = effect_palette(self)
        self.rate = 0.25 * speed_rate(params.speed)

    def render(self, t: float) -> Frame:
        shift = (t * self.rate % 1.0) * 256.0
        index = (self.pos - np.float32(shift)).astype(np.int32) & 255
        return lookup(self.lut, index)


class Gradient(Effect):
    """A scrolling gradient; ``direction`` picks horizontal, vertical, diagonal or radial."""

    info = effect_info("gradient")

    def __init__(self, width: int, height: int, params: EffectParams, seed: int = 0) -> None:
        super().__init__(width, height, params, seed)
        grid = Grid(width, height)
        direction = extra(self, "direction")
        if direction == "vertical":
            coord = np.broadcast_to(grid.v[:, None], (height, width))
        elif direction == "diagonal":
            coord = (grid.u[None, :] + grid.v[:, None]) * 0.5
        elif direction == "radial":
            coord = grid.r * 2.0
        else:
            coord = np.broadcast_to(grid.u[None, :], (height, width))
        repeats = 1.0 + 3.0 * unit(params.intensity)
        self.pos = (coord * (repeats * 256.0)).astype(np.float32)
        self.lut = effect_palette(self)
        self.rate = 0.2 * speed_rate(params.speed)

    def render(self, t: float) -> Frame:
        shift = (t * self.rate % 1.0) * 256.0
        index = (self.pos - np.float32(shift)).astype(np.int32) & 255
        return lookup(self.lut, index)


class Breathe(Effect):
    """The first colour, its brightness following an exp(sin) breathing curve."""

    info = effect_info("breathe")

    def __init__(self, width: int, height: int, params: EffectParams, seed: int = 0) -> None:
        super().__init__(width, height, params, seed)
        self.rgb = color(self, 0, DEFAULT_COLORS[0])
        self.floor = 0.6 * unit(params.intensity)
        self.freq = 12.0 / 60.0 * speed_rate(params.speed)

    def render(self, t: float) -> Frame:
        phase = math.sin(2 * math.pi * (t * self.freq % 1.0) - math.pi / 2)
        level = (math.exp(phase) - 1 / math.e) / (math.e - 1 / math.e)
        bri = self.floor + (1.0 - self.floor) * level
        rgb = np.rint(self.rgb * bri).astype(np.uint8)
        frame = np.empty((self.height, self.width, 3), dtype=np.uint8)
        frame[...] = rgb
        return frame


class Twinkle(Effect):
    """Each pixel runs its own fade cycle; a hash of (pixel, cycle) decides whether it lights
    up this cycle and in which palette colour, so it needs no state."""

    info = effect_info("twinkle")

    def __init__(self, width: int, height: int, params: EffectParams, seed: int = 0) -> None:
        super().__init__(width, height, params, seed)
        shape = (height, width)
        self.rates = self.rng.uniform(0.6, 1.4, shape).astype(np.float32)
        self.phases = self.rng.random(shape, dtype=np.float32)
        self.salt = self.rng.integers(0, 2**32, shape, dtype=np.uint32)
        self.threshold = int(8 + 200 * unit(params.intensity))
        self.rate = 0.6 * speed_rate(params.speed)
        self.table = shaded(effect_palette(self))

    def render(self, t: float) -> Frame:
        pos = self.rates * np.float32(t * self.rate) + self.phases
        cycle = np.floor(pos)
        frac = pos - cycle
        # Triangle 0 -> 1 -> 0 over the cycle, squared for a soft attack and decay.
        bri = 1.0 - np.abs(2.0 * frac - 1.0)
        bri *= bri
        h = cycle.astype(np.uint32)
        h *= np.uint32(2654435761)
        h ^= self.salt
        h *= np.uint32(2246822519)
        h ^= h >> np.uint32(15)
        lit = (h & np.uint32(255)) < self.threshold
        bri *= lit
        index = ((h >> np.uint32(8)) & np.uint32(255)).astype(np.int32)
        return lookup(self.table, shaded_index(index, bri.astype(np.float32)))
