"""Stateless scalar-field effects: a value per pixel from a formula of (x, y, t), shown
through a palette. Plasma, noise, waves, spiral, metaballs, lava lamp, aurora, Julia."""

from __future__ import annotations

import math

import numpy as np

from lightbox.protocol.catalog import effect_info
from lightbox.render.effects._common import (
    F32,
    Grid,
    ValueNoise,
    effect_palette,
    extra_int,
    lookup,
    shaded,
    shaded_index,
    speed_rate,
    unit,
    wrap_index,
)
from lightbox.render.effects.base import Effect, EffectParams
from lightbox.render.frame import Frame

TAU = 2 * math.pi


def _phase(t: float, rate: float) -> float:
    """``t * rate`` reduced to one turn of radians (keeps float32 maths precise)."""
    return (t * rate) % TAU


class Plasma(Effect):
    """Sum of four sine fields (two separable, one diagonal, one radial)."""

    info = effect_info("plasma")

    def __init__(self, width: int, height: int, params: EffectParams, seed: int = 0) -> None:
        super().__init__(width, height, params, seed)
        g = Grid(width, height)
        k = 5.0 + 15.0 * unit(params.intensity)
        self.kx = (g.x * k).astype(np.float32)
        self.ky = (g.y * (k * 1.3)).astype(np.float32)
        self.kd = ((g.x[None, :] + g.y[:, None]) * (k * 0.7)).astype(np.float32)
        self.kr = (g.r * (k * 1.5)).astype(np.float32)
        self.rate = 1.2 * speed_rate(params.speed)
        self.lut = effect_palette(self)

    def render(self, t: float) -> Frame:
        s = t * self.rate
        v = (
            np.sin(self.kx + np.float32(_phase(s, 1.0)))[None, :]
            + np.sin(self.ky - np.float32(_phase(s, 1.1)))[:, None]
        )
        v += np.sin(self.kd + np.float32(_phase(s, 0.7)))
        v += np.sin(self.kr - np.float32(_phase(s, 1.3)))
        v *= np.float32(0.125)
        v += np.float32(s * 0.05 % 1.0)
        return lookup(self.lut, wrap_index(v))


class Noise(Effect):
    """Two octaves of 3D value noise, drifting sideways and evolving in depth."""

    info = effect_info("noise")

    def __init__(self, width: int, height: int, params: EffectParams, seed: int = 0) -> None:
        super().__init__(width, height, params, seed)
        g = Grid(width, height)
        self.noise = ValueNoise(self.rng)
        cells = 2.0 + 10.0 * unit(params.intensity)
        self.xs = (g.px * (cells * g.scale)).astype(np.float32)
        self.ys = (g.py * (cells * g.scale)).astype(np.float32)
        self.rate = speed_rate(params.speed)
        self.lut = effect_palette(self)

    def render(self, t: float) -> Frame:
        s = t * self.rate
        period = self.noise.period
        dx = np.float32(s * 0.4 % period)
        dy = np.float32(s * 0.15 % period)
        n = self.noise.plane(self.xs + dx, self.ys + dy, s * 0.3)
        n2 = self.noise.plane(self.xs * 2.0 - dy, self.ys * 2.0 + dx, s * 0.5 + 7.0)
        n *= np.float32(0.65)
        n2 *= np.float32(0.35)
        n += n2
        # Value noise clusters around 0.5: stretch it so the whole palette shows up.
        n *= np.float32(1.25)
        n += np.float32(s * 0.02 % 1.0)
        return lookup(self.lut, wrap_index(n))


class Waves(Effect):
    """Four directional sine waves with deep-water dispersion (long waves travel faster)."""

    info = effect_info("waves")

    def __init__(self, width: int, height: int, params: EffectParams, seed: int = 0) -> None:
        super().__init__(width, height, params, seed)
        g = Grid(width, height)
        base = 6.0 + 22.0 * unit(params.intensity)
        n = 4
        angles = self.rng.uniform(0, TAU, n)
        ks = base * self.rng.uniform(0.7, 1.3, n)
        self.amps = self.rng.uniform(0.6, 1.0, n).astype(np.float32)
        self.amps /= self.amps.sum()
        self.omegas = np.sqrt(ks * 9.0) * 0.6 * speed_rate(params.speed)
        self.fields = [
            ((g.x[None, :] * math.cos(a) + g.y[:, None] * math.sin(a)) * k).astype(np.float32)
            for a, k in zip(angles, ks, strict=True)
        ]
        self.table = shaded(effect_palette(self))

    def render(self, t: float) -> Frame:
        h: F32 | None = None
        for field, amp, omega in zip(self.fields, self.amps, self.omegas, strict=True):
            wave = np.sin(field - np.float32(_phase(t, float(omega))))
            wave *= amp
            if h is None:
                h = wave
            else:
                h += wave
        assert h is not None
        level = h * np.float32(0.5) + np.float32(0.5)  # 0..1
        index = (level * np.float32(190.0)).astype(np.int32) + 20
        bri = np.float32(0.35) + np.float32(0.65) * level
        return lookup(self.table, shaded_index(index, bri))


class Spiral(Effect):
    """Palette arms: position = arms * angle + twist * radius - time."""

    info = effect_info("spiral")

    def __init__(self, width: int, height: int, params: EffectParams, seed: int = 0) -> None:
        super().__init__(width, height, params, seed)
        g = Grid(width, height)
        arms = extra_int(self, "arms")
        twist = 0.5 + 5.5 * unit(params.intensity)
        self.pos = ((g.angle * arms + g.r * twist) * 256.0).astype(np.float32)
        self.rate = 0.3 * speed_rate(params.speed)
        self.lut = effect_palette(self)

    def render(self, t: float) -> Frame:
        shift = np.float32((t * self.rate % 1.0) * 256.0)
        index = (self.pos - shift).astype(np.int32) & 255
        return lookup(self.lut, index)


class _Blobs(Effect):
    """Shared field of ``sum(radius^2 / distance^2)`` over moving blobs."""

    def __init__(self, width: int, height: int, params: EffectParams, seed: int = 0) -> None:
        super().__init__(width, height, params, seed)
        self.grid = Grid(width, height)
        self.half_w = width * self.grid.scale / 2
        self.half_h = height * self.grid.scale / 2

    def field(self, cx: F32, cy: F32, radius: F32) -> F32:
        g = self.grid
        total = np.zeros((self.height, self.width), dtype=np.float32)
        d2 = np.empty_like(total)
        for bx, by, r in zip(cx, cy, radius, strict=True):
            dx = g.x - bx
            dy = g.y - by
            np.add((dy * dy)[:, None], (dx * dx)[None, :], out=d2)
            d2 += np.float32(1e-4)
            np.divide(np.float32(r * r), d2, out=d2)
            total += d2
        return total


class Metaballs(_Blobs):
    """Blobs on Lissajous paths; colour from field strength, dark outside the iso-line."""

    info = effect_info("metaballs")

    def __init__(self, width: int, height: int, params: EffectParams, seed: int = 0) -> None:
        super().__init__(width, height, params, seed)
        n = 2 + round(6 * unit(params.intensity))
        self.freq = self.rng.uniform(0.15, 0.45, (2, n)).astype(np.float32)
        self.phase = self.rng.uniform(0, TAU, (2, n)).astype(np.float32)
        self.radius = self.rng.uniform(0.07, 0.12, n).astype(np.float32)
        self.rate = speed_rate(params.speed)
        self.table = shaded(effect_palette(self))

    def render(self, t: float) -> Frame:
        s = np.float32(t * self.rate % 1000.0)
        cx = np.float32(self.half_w * 0.8) * np.sin(self.freq[0] * TAU * s + self.phase[0])
        cy = np.float32(self.half_h * 0.8) * np.sin(self.freq[1] * TAU * s + self.phase[1])
        f = self.field(cx, cy, self.radius)
        bri = np.clip((f - np.float32(0.6)) * np.float32(2.5), 0.0, 1.0)
        pos = f * np.float32(0.15)
        pos += np.float32(s * 0.03 % 1.0)
        return lookup(self.table, shaded_index(wrap_index(pos), bri))


class LavaLamp(_Blobs):
    """Wax blobs rising and sinking slowly, hotter (brighter) near the bottom."""

    info = effect_info("lava_lamp")

    def __init__(self, width: int, height: int, params: EffectParams, seed: int = 0) -> None:
        super().__init__(width, height, params, seed)
        n = 2 + round(5 * unit(params.intensity))
        self.columns = (
            np.linspace(-0.7, 0.7, n) * self.half_w + self.rng.uniform(-0.1, 0.1, n) * self.half_w
        ).astype(np.float32)
        self.freq = self.rng.uniform(0.03, 0.07, n).astype(np.float32)
        self.wobble = self.rng.uniform(0.1, 0.3, n).astype(np.float32)
        self.phase = self.rng.uniform(0, TAU, n).astype(np.float32)
        self.radius = self.rng.uniform(0.08, 0.14, n).astype(np.float32)
        self.rate = speed_rate(params.speed)
        # Palette position by height: hot at the bottom, cooler at the top.
        self.heat = (100.0 + 70.0 * self.grid.v).astype(np.int32)[:, None]
        self.table = shaded(effect_palette(self))

    def render(self, t: float) -> Frame:
        s = np.float32(t * self.rate % 10000.0)
        ang = self.freq * TAU * s + self.phase
        cy = np.float32(self.half_h * 0.95) * np.sin(ang)
        cx = self.columns + self.wobble * self.half_w * np.sin(ang * 2.3 + 1.0) * 0.3
        f = self.field(cx.astype(np.float32), cy, self.radius)
        bri = np.clip((f - np.float32(0.8)) * np.float32(3.0), 0.0, 1.0)
        bri *= np.float32(0.85)
        bri += np.float32(0.15)
        index = np.minimum(self.heat + (f * np.float32(10.0)).astype(np.int32), 185)
        return lookup(self.table, shaded_index(index, bri))


class Aurora(Effect):
    """Three curtains whose lower edge and brightness wander with 1D noise along x."""

    info = effect_info("aurora")

    def __init__(self, width: int, height: int, params: EffectParams, seed: int = 0) -> None:
        super().__init__(width, height, params, seed)
        g = Grid(width, height)
        self.grid = g
        self.noise = ValueNoise(self.rng, period=64, depth=16)
        self.curtains = 3
        self.xs = (g.px * (4.0 * g.scale)).astype(np.float32)
        self.length = max(2.0, height * 0.45)
        self.gain = 0.5 + 0.9 * unit(params.intensity)
        self.rate = speed_rate(params.speed)
        self.hue = (90.0 + 120.0 * (1.0 - g.v)).astype(np.int32)[:, None]
        self.table = shaded(effect_palette(self))

    def render(self, t: float) -> Frame:
        s = t * self.rate
        h = self.height
        total = np.zeros((h, self.width), dtype=np.float32)
        for c in range(self.curtains):
            drift = np.float32((s * (0.15 + 0.07 * c) + 11.0 * c) % self.noise.period)
            edge = self.noise.line(self.xs + drift, s * 0.2 + 5 * c, row=c)
            edge = (0.35 + 0.5 * edge) * h
            glow = self.noise.line(self.xs * 1.7 - drift, s * 0.25 + 3 * c, row=c + 20)
            glow = np.clip(glow * 1.6 - 0.4, 0.0, 1.0).astype(np.float32)
            d = edge[None, :] - self.grid.py[:, None]  # > 0 above the lower edge
            a = np.maximum(d, d * np.float32(-3.0))
            prof = np.clip(np.float32(1.0) - a / np.float32(self.length), 0.0, 1.0)
            prof *= glow[None, :]
            total += prof
        total *= np.float32(self.gain)
        return lookup(self.table, shaded_index(self.hue, total))


class Julia(Effect):
    """A Julia set with ``c`` circling the main cardioid's edge; smooth iteration colouring."""

    info = effect_info("julia")

    def __init__(self, width: int, height: int, params: EffectParams, seed: int = 0) -> None:
        super().__init__(width, height, params, seed)
        g = Grid(width, height)
        self.zr0 = np.broadcast_to(g.x[None, :] * 3.0, (height, width)).astype(np.float32)
        self.zi0 = np.broadcast_to(g.y[:, None] * 3.0, (height, width)).astype(np.float32)
        self.iterations = 6 + round(14 * unit(params.intensity))
        self.rate = 0.15 * speed_rate(params.speed)
        self.offset = float(self.rng.uniform(0, TAU))
        self.table = shaded(effect_palette(self))

    def render(self, t: float) -> Frame:
        a = (t * self.rate + self.offset) % TAU
        cr = np.float32(0.7885 * math.cos(a))
        ci = np.float32(0.7885 * math.sin(a))
        zr = self.zr0.copy()
        zi = self.zi0.copy()
        zr2 = np.empty_like(zr)
        zi2 = np.empty_like(zr)
        alive = np.ones(zr.shape, dtype=bool)
        count = np.zeros(zr.shape, dtype=np.float32)
        with np.errstate(over="ignore", invalid="ignore"):
            for _ in range(self.iterations):
                np.multiply(zr, zr, out=zr2)
                np.multiply(zi, zi, out=zi2)
                alive &= (zr2 + zi2) < 4.0
                count += alive
                zi *= zr
                zi *= np.float32(2.0)
                zi += ci
                np.subtract(zr2, zi2, out=zr)
                zr += cr
        level = count / np.float32(self.iterations)
        bri = np.where(alive, np.float32(0.0), np.sqrt(level)).astype(np.float32)
        pos = level * np.float32(1.5) + np.float32(t * 0.02 % 1.0)
        return lookup(self.table, shaded_index(wrap_index(pos), bri))
