"""Grid simulations stepped at a fixed rate: fire, ripples (a 2D wave equation) and
Conway's Game of Life; plus noise fire, the stateless cousin of fire."""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from lightbox.protocol.catalog import effect_info
from lightbox.render.effects._common import (
    Grid,
    Stepper,
    ValueNoise,
    clamp_index,
    effect_palette,
    lookup,
    shaded,
    shaded_index,
    speed_rate,
    unit,
)
from lightbox.render.effects.base import Effect, EffectParams
from lightbox.render.frame import Frame


class _RandomPool:
    """A long block of random numbers drawn once; each step takes a window at a random
    offset, which is far cheaper than drawing a full frame of fresh numbers."""

    def __init__(self, values: np.ndarray, window: int, rng: np.random.Generator) -> None:
        self.values = values
        self.window = window
        self.rng = rng

    def take(self) -> np.ndarray:
        start = int(self.rng.integers(0, self.values.size - self.window + 1))
        return self.values[start : start + self.window]


class Fire(Effect):
    """Heat rises ``k`` rows per step from a flickering fuel row, drifting sideways at random
    and cooling by a random amount; the mean cooling sets the flame height."""

    info = effect_info("fire")

    def __init__(self, width: int, height: int, params: EffectParams, seed: int = 0) -> None:
        super().__init__(width, height, params, seed)
        self.k = max(1, math.ceil(height / 48))
        self.heat = np.zeros((height + self.k, width), dtype=np.float32)
        flame = max(1.0, height * (0.25 + 0.85 * unit(params.intensity)))
        cells = height * width
        cool = self.rng.uniform(0.0, 2.0 * self.k / flame, cells * 3).astype(np.float32)
        self.cool = _RandomPool(cool, cells, self.rng)
        base = np.arange(width, dtype=np.int32)[None, :]
        drift = self.rng.integers(-1, 2, (3, height, width), dtype=np.int32).ravel()
        self.cols = _RandomPool(drift, cells, self.rng)
        self.base = base
        self.stepper = Stepper(height / (0.7 * self.k) * speed_rate(params.speed))
        self.lut = effect_palette(self)

    def _step(self) -> None:
        h, w, k = self.height, self.width, self.k
        fuel = self.rng.uniform(0.75, 1.0, (k, w)).astype(np.float32)
        self.heat[h:] = fuel
        cols = np.clip(self.base + self.cols.take().reshape(h, w), 0, w - 1)
        risen = np.take_along_axis(self.heat[k:], cols, axis=1)
        risen -= self.cool.take().reshape(h, w)
        np.maximum(risen, 0.0, out=self.heat[:h])

    def render(self, t: float) -> Frame:
        for _ in range(self.stepper.steps(t)):
            self._step()
        return lookup(self.lut, clamp_index(self.heat[: self.height]))


class NoiseFire(Effect):
    """Two octaves of value noise stretched vertically, scrolling up, minus a height ramp."""

    info = effect_info("noise_fire")

    def __init__(self, width: int, height: int, params: EffectParams, seed: int = 0) -> None:
        super().__init__(width, height, params, seed)
        g = Grid(width, height)
        self.noise = ValueNoise(self.rng)
        cells = 8.0 * g.scale
        self.xs = (g.px * cells * 1.6).astype(np.float32)
        self.ys = (g.py * cells).astype(np.float32)
        flame = 0.3 + 0.9 * unit(params.intensity)
        self.ramp = ((1.0 - g.v) / flame).astype(np.float32)[:, None]
        self.rate = speed_rate(params.speed)
        self.lut = effect_palette(self)

    def render(self, t: float) -> Frame:
        s = t * self.rate
        period = self.noise.period
        rise = np.float32(s * 2.5 % period)
        n = self.noise.plane(self.xs, self.ys + rise, s * 0.6)
        n2 = self.noise.plane(self.xs * 2.0, self.ys * 2.0 + rise * 2.0, s * 0.9 + 9.0)
        n += n2 * np.float32(0.5)
        n *= np.float32(1.1)
        n -= self.ramp
        return lookup(self.lut, clamp_index(n))


class Ripples(Effect):
    """Raindrops on a two-buffer wave equation with damping, lit by the surface slope."""

    info = effect_info("ripples")

    def __init__(self, width: int, height: int, params: EffectParams, seed: int = 0) -> None:
        super().__init__(width, height, params, seed)
        self.cur = np.zeros((height + 2, width + 2), dtype=np.float32)
        self.prev = np.zeros_like(self.cur)
        rate = speed_rate(params.speed)
        steps_per_second = (30.0 + 0.35 * max(width, height)) * rate
        self.stepper = Stepper(steps_per_second)
        drops = (0.3 + 3.0 * unit(params.intensity)) * max(1.0, width * height / 1024) ** 0.5
        self.drop_chance = min(1.0, drops * rate / steps_per_second)
        radius = max(1.5, min(width, height) / 14)
        reach = math.ceil(radius)
        span = np.arange(-reach, reach + 1, dtype=np.float32)
        dist = np.hypot(span[:, None], span[None, :]) / np.float32(radius)
        self.drop = (np.cos(np.minimum(dist, 1.0) * np.pi) + 1.0) * np.float32(-0.9)
        self.reach = reach
        self.damping = np.float32(0.985)
        self.table = shaded(effect_palette(self))
        self.until_first = True

    def _rain(self) -> None:
        r = self.reach
        x = int(self.rng.integers(1, self.width + 1))
        y = int(self.rng.integers(1, self.height + 1))
        # Clip the bump to the interior (the 1-pixel border stays 0: fixed edges).
        y0, y1 = max(1, y - r), min(self.height + 1, y + r + 1)
        x0, x1 = max(1, x - r), min(self.width + 1, x + r + 1)
        self.cur[y0:y1, x0:x1] += self.drop[y0 - y + r : y1 - y + r, x0 - x + r : x1 - x + r]

    def _step(self) -> None:
        if self.until_first or self.rng.random() < self.drop_chance:
            self.until_first = False
            self._rain()
        c, p = self.cur, self.prev
        inner = p[1:-1, 1:-1]
        # Leapfrog wave equation: next = 2c - prev + k * laplacian(c), with k = 0.3 (below
        # the 0.5 stability limit, which is what leaves the classic two-buffer ripple
        # full of checkerboard noise).
        nxt = c[:-2, 1:-1] + c[2:, 1:-1]
        nxt += c[1:-1, :-2]
        nxt += c[1:-1, 2:]
        nxt *= np.float32(0.3)
        nxt += c[1:-1, 1:-1] * np.float32(0.8)
        nxt -= inner
        nxt *= self.damping
        inner[...] = nxt
        self.cur, self.prev = p, c

    def render(self, t: float) -> Frame:
        for _ in range(self.stepper.steps(t)):
            self._step()
        c = self.cur
        level = c[1:-1, 1:-1]
        slope = c[1:-1, 2:] - c[1:-1, :-2]
        slope += c[2:, 1:-1] - c[:-2, 1:-1]
        pos = np.float32(0.45) + level * np.float32(0.25) + slope * np.float32(0.5)
        index = clamp_index(pos)
        bri = np.clip(np.float32(0.55) + np.abs(level) * np.float32(2.0), 0.0, 1.0)
        return lookup(self.table, shaded_index(index, bri))


class Life(Effect):
    """Conway's Game of Life on a torus. Cells are coloured by age (newborn = top of the
    palette). When the grid repeats one of its last 16 states (dead, still or a short
    oscillator) it lingers for about a second and is reseeded."""

    info = effect_info("life")
    HISTORY = 16

    def __init__(self, width: int, height: int, params: EffectParams, seed: int = 0) -> None:
        super().__init__(width, height, params, seed)
        self.density = 0.12 + 0.38 * unit(params.intensity)
        gens = 8.0 * speed_rate(params.speed)
        self.stepper = Stepper(gens)
        self.linger = max(2, round(gens * 1.0))
        self.pad = np.zeros((height + 2, width + 2), dtype=np.uint8)
        self.table = shaded(effect_palette(self), levels=2)
        self.history: deque[bytes] = deque(maxlen=self.HISTORY)
        self.stale = -1
        self._seed()

    def _seed(self) -> None:
        shape = (self.height, self.width)
        self.cells = (self.rng.random(shape) < self.density).astype(np.uint8)
        self.age = self.cells.copy()
        self.history.clear()
        self.stale = -1

    def _step(self) -> None:
        if self.stale >= 0:
            self.stale += 1
            if self.stale >= self.linger:
                self._seed()
            return
        g, p = self.cells, self.pad
        p[1:-1, 1:-1] = g
        p[0, 1:-1] = g[-1]
        p[-1, 1:-1] = g[0]
        p[:, 0] = p[:, -2]
        p[:, -1] = p[:, 1]
        n = p[:-2, :-2] + p[:-2, 1:-1]
        n += p[:-2, 2:]
        n += p[1:-1, :-2]
        n += p[1:-1, 2:]
        n += p[2:, :-2]
        n += p[2:, 1:-1]
        n += p[2:, 2:]
        alive = (n == 3) | ((n == 2) & (g == 1))
        self.cells = alive.astype(np.uint8)
        self.age = np.where(alive, np.minimum(self.age, 254) + 1, 0).astype(np.uint8)
        key = np.packbits(alive).tobytes()
        if key in self.history:
            self.stale = 0
        self.history.append(key)

    def render(self, t: float) -> Frame:
        for _ in range(self.stepper.steps(t)):
            self._step()
        index = np.clip(256 - self.age.astype(np.int32) * 10, 70, 255)
        return lookup(self.table, (self.cells.astype(np.int32) << 8) | index)
