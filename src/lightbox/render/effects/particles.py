"""Particle effects: matrix rain, starfield, snow, fireworks, bouncing balls, comets.

Particles live in small numpy arrays (one entry per particle) and are updated and drawn
all at once. Motion uses the elapsed ``t`` (``Clock``) or fixed physics steps
(``Stepper``), so speed does not depend on fps and a ``t`` sequence always gives the
same frames.
"""

from __future__ import annotations

import math

import numpy as np

from lightbox.protocol.catalog import effect_info
from lightbox.render.effects._common import (
    F32,
    Clock,
    Grid,
    Stepper,
    color,
    disc_offsets,
    effect_palette,
    extra_bool,
    extra_int,
    speed_rate,
    splat,
    to_frame,
    unit,
)
from lightbox.render.effects.base import Effect, EffectParams
from lightbox.render.frame import Frame


class MatrixRain(Effect):
    """One falling trail per column; glyphs flicker by a (pixel, time-slot) hash."""

    info = effect_info("matrix")

    def __init__(self, width: int, height: int, params: EffectParams, seed: int = 0) -> None:
        super().__init__(width, height, params, seed)
        self.rgb = color(self, 0, (0, 255, 60))
        self.rate = speed_rate(params.speed)
        self.gap = 0.2 + 3.0 * (1.0 - unit(params.intensity))  # idle time, in screen heights
        self.py = Grid(width, height).py[:, None]
        self.salt = self.rng.integers(0, 2**32, (height, width), dtype=np.uint32)
        self.head = -self.rng.uniform(0, height * (1 + self.gap), width).astype(np.float32)
        self.speed = self._speeds(width)
        self.length = self._lengths(width)
        self.clock = Clock()

    def _speeds(self, n: int) -> F32:
        return ((6.0 + 0.5 * self.height) * self.rng.uniform(0.6, 1.4, n)).astype(np.float32)

    def _lengths(self, n: int) -> F32:
        return np.maximum(2.0, self.height * self.rng.uniform(0.3, 0.8, n)).astype(np.float32)

    def render(self, t: float) -> Frame:
        dt = self.clock.dt(t) * self.rate
        self.head += self.speed * np.float32(dt)
        done = self.head - self.length > self.height
        if done.any():
            n = int(done.sum())
            self.head[done] = -self.rng.uniform(0, self.height * self.gap, n).astype(np.float32)
            self.speed[done] = self._speeds(n)
            self.length[done] = self._lengths(n)
        d = self.head[None, :] - self.py  # rows behind the head
        trail = np.clip(np.float32(1.0) - d / self.length[None, :], 0.0, 1.0)
        trail *= d >= 0
        trail *= trail
        slot = np.uint32((int(t * 6.0 * self.rate) * 2654435761) & 0xFFFFFFFF)
        h = (self.salt + slot) * np.uint32(2246822519)
        glyph = (h >> np.uint32(24)).astype(np.float32) * np.float32(0.65 / 255) + np.float32(0.35)
        trail *= glyph
        out = trail[:, :, None] * self.rgb
        head = ((d >= 0) & (d < 1)).astype(np.float32)[:, :, None]
        out += head * (np.float32(230.0) - out) * np.float32(0.8)
        return to_frame(out)


class Starfield(Effect):
    """Stars at (x, y, z) fly towards the viewer and are projected with a short streak."""

    info = effect_info("starfield")

    def __init__(self, width: int, height: int, params: EffectParams, seed: int = 0) -> None:
        super().__init__(width, height, params, seed)
        area = width * height
        self.count = int(8 + unit(params.intensity) * min(600, area / 8))
        self.xy = self.rng.uniform(-1, 1, (2, self.count)).astype(np.float32)
        self.z = self.rng.uniform(0.05, 1.0, self.count).astype(np.float32)
        self.rgb = color(self, 0, (255, 255, 255))
        self.focal = max(width, height) * 0.5
        self.centre = ((width - 1) / 2, (height - 1) / 2)
        self.vz = 0.35 * speed_rate(params.speed)
        self.clock = Clock()
        self.samples = np.linspace(0.0, 1.0, 3, dtype=np.float32)

    def render(self, t: float) -> Frame:
        dz = np.float32(self.clock.dt(t) * self.vz)
        self.z -= dz
        px = self.xy[0] / self.z * self.focal + self.centre[0]
        py = self.xy[1] / self.z * self.focal + self.centre[1]
        gone = (
            (self.z <= 0.03)
            | (np.abs(px - self.centre[0]) > self.width)
            | (np.abs(py - self.centre[1]) > self.height)
        )
        if gone.any():
            n = int(gone.sum())
            self.xy[:, gone] = self.rng.uniform(-1, 1, (2, n)).astype(np.float32)
            self.z[gone] = self.rng.uniform(0.8, 1.0, n).astype(np.float32)
        streak = np.maximum(dz * 2.0, np.float32(0.01))
        zs = self.z[None, :] + streak * self.samples[:, None]  # samples x stars
        xs = (self.xy[0][None, :] / zs * self.focal + self.centre[0]).ravel()
        ys = (self.xy[1][None, :] / zs * self.focal + self.centre[1]).ravel()
        bri = np.clip(1.5 - zs * 1.3, 0.0, 1.0) * (1.0 - 0.5 * self.samples[:, None])
        colors = (bri.ravel()[:, None] * self.rgb[None, :]).astype(np.float32)
        buf = np.zeros((self.height, self.width, 3), dtype=np.float32)
        splat(buf, xs, ys, colors)
        return to_frame(buf)


class Snow(Effect):
    """Flakes with a depth: near ones are brighter, bigger, faster and sway more."""

    info = effect_info("snow")

    def __init__(self, width: int, height: int, params: EffectParams, seed: int = 0) -> None:
        super().__init__(width, height, params, seed)
        area = width * height
        self.count = int(4 + unit(params.intensity) * min(800, area / 10))
        n = self.count
        self.x = self.rng.uniform(0, width, n).astype(np.float32)
        self.y = self.rng.uniform(-1, height, n).astype(np.float32)
        self.depth = self.rng.uniform(0.3, 1.0, n).astype(np.float32)
        self.sway = self.rng.uniform(0.3, 1.2, n).astype(np.float32)
        self.phase = self.rng.uniform(0, 2 * math.pi, n).astype(np.float32)
        self.vy = ((3.0 + 0.15 * height) * self.depth).astype(np.float32)
        self.rgb = color(self, 0, (255, 255, 255))
        self.rate = speed_rate(params.speed)
        self.clock = Clock()
        self.near = self.depth > 0.85
        self.disc = disc_offsets(0.7 if min(width, height) >= 24 else 0.0)

    def render(self, t: float) -> Frame:
        dt = np.float32(self.clock.dt(t) * self.rate)
        self.y += self.vy * dt
        fallen = self.y > self.height + 1
        if fallen.any():
            n = int(fallen.sum())
            self.y[fallen] -= self.height + 2
            self.x[fallen] = self.rng.uniform(0, self.width, n).astype(np.float32)
        s = np.float32(t * self.rate % 1000.0)
        xs = self.x + np.sin(self.sway * s + self.phase) * self.depth * np.float32(1.5)
        xs = np.mod(xs, np.float32(self.width))
        colors = (np.float32(0.25) + np.float32(0.75) * self.depth)[:, None] * self.rgb[None, :]
        buf = np.zeros((self.height, self.width, 3), dtype=np.float32)
        far = ~self.near
        splat(buf, xs[far], self.y[far], colors[far])
        splat(buf, xs[self.near], self.y[self.near], colors[self.near], self.disc)
        return to_frame(buf)


class _Trails(Effect):
    """A float frame that fades exponentially with elapsed time (half-life in seconds)."""

    def __init__(self, width: int, height: int, params: EffectParams, seed: int = 0) -> None:
        super().__init__(width, height, params, seed)
        self.buf = np.zeros((height, width, 3), dtype=np.float32)

    def fade(self, dt: float, half_life: float) -> None:
        if dt > 0:
            self.buf *= np.float32(0.5 ** (dt / half_life))


class Fireworks(_Trails):
    """Rockets rise to a random height and burst into sparks with gravity and drag."""

    info = effect_info("fireworks")
    STEP = 1.0 / 60.0
    SPARKS = 512
    ROCKETS = 6
    BURST = 64

    def __init__(self, width: int, height: int, params: EffectParams, seed: int = 0) -> None:
        super().__init__(width, height, params, seed)
        self.rate = speed_rate(params.speed)
        self.stepper = Stepper(60.0 * self.rate, max_steps=12)
        self.launches = 0.25 + 1.75 * unit(params.intensity)  # rockets per second
        self.gravity = max(6.0, height * 0.6)
        self.lut = effect_palette(self).astype(np.float32)
        s, r = self.SPARKS, self.ROCKETS
        self.spark = np.zeros((4, s), dtype=np.float32)  # x, y, vx, vy
        self.life = np.zeros(s, dtype=np.float32)
        self.span = np.ones(s, dtype=np.float32)
        self.hue = np.zeros(s, dtype=np.int32)
        self.rocket = np.zeros((5, r), dtype=np.float32)  # x, y, vy, burst height, drag
        self.flying = np.zeros(r, dtype=bool)
        self.until_launch = 0.0

    def _launch(self) -> None:
        free = np.flatnonzero(~self.flying)
        if free.size == 0:
            return
        i = int(free[0])
        h = self.height
        burst_y = self.rng.uniform(0.15, 0.5) * h
        climb = self.rng.uniform(0.7, 1.1)  # seconds to the top of the climb
        rise = max(h - burst_y, 1.0)
        x = self.rng.uniform(0.15, 0.85) * self.width
        self.rocket[:, i] = (x, h, -2 * rise / climb, burst_y, 2 * rise / climb**2)
        self.flying[i] = True

    def _burst(self, i: int) -> None:
        free = np.flatnonzero(self.life <= 0)[: self.BURST]
        n = free.size
        if n == 0:
            return
        angle = self.rng.uniform(0, 2 * math.pi, n)
        speed = self.rng.uniform(0.3, 1.0, n) * max(5.0, min(self.width, self.height) * 0.6)
        x, y = self.rocket[0, i], self.rocket[1, i]
        self.spark[:, free] = np.stack(
            [np.full(n, x), np.full(n, y), np.cos(angle) * speed, np.sin(angle) * speed]
        )
        self.span[free] = self.rng.uniform(0.8, 1.6, n)
        self.life[free] = self.span[free]
        base = int(self.rng.integers(0, 256))
        self.hue[free] = (base + self.rng.integers(-16, 17, n)) & 255

    def _step(self) -> None:
        h = self.STEP
        self.until_launch -= h
        if self.until_launch <= 0:
            self._launch()
            self.until_launch = float(self.rng.exponential(1.0 / self.launches))
        r = self.rocket
        r[1] += r[2] * h
        r[2] += r[4] * h
        for i in np.flatnonzero(self.flying & ((r[1] <= r[3]) | (r[2] >= 0))):
            self.flying[i] = False
            self._burst(int(i))
        s = self.spark
        s[3] += self.gravity * h
        s[2:] *= np.float32(0.985)
        s[0] += s[2] * h
        s[1] += s[3] * h
        self.life -= h

    def render(self, t: float) -> Frame:
        steps = self.stepper.steps(t)
        for _ in range(steps):
            self._step()
        self.fade(steps * self.STEP, 0.12)
        alive = self.life > 0
        level = np.clip(self.life[alive] / self.span[alive], 0, 1) ** 0.4
        colors = self.lut[self.hue[alive]] * level[:, None]
        splat(self.buf, self.spark[0, alive], self.spark[1, alive], colors.astype(np.float32))
        if self.flying.any():
            heads = np.tile(np.array([[255.0, 200.0, 120.0]], np.float32), (self.ROCKETS, 1))
            fly = self.flying
            splat(self.buf, self.rocket[0, fly], self.rocket[1, fly], heads[fly])
        return to_frame(self.buf)


class BouncingBalls(_Trails):
    """Balls under gravity bouncing off the floor and walls; a ball that has lost most of
    its energy is kicked up again."""

    info = effect_info("bouncing_balls")
    STEP = 1.0 / 120.0

    def __init__(self, width: int, height: int, params: EffectParams, seed: int = 0) -> None:
        super().__init__(width, height, params, seed)
        n = 1 + round(15 * unit(params.intensity))
        self.radius = max(0.5, min(width, height) / 20)
        self.gravity = max(10.0, height * 2.0)
        lo, hi = self.radius, max(self.radius, width - 1 - self.radius)
        self.floor = max(self.radius, height - 1 - self.radius)
        self.pos = np.stack(
            [self.rng.uniform(lo, hi, n), self.rng.uniform(0, self.floor * 0.6, n)]
        ).astype(np.float32)
        self.vel = np.stack([self.rng.uniform(-0.6, 0.6, n) * max(width, 4), np.zeros(n)]).astype(
            np.float32
        )
        self.bounds = (lo, hi)
        self.restitution = self.rng.uniform(0.8, 0.92, n).astype(np.float32)
        self.kick = math.sqrt(2 * self.gravity * height * 0.2)
        lut = effect_palette(self).astype(np.float32)
        self.colors = lut[(np.arange(n) * 256 // n + int(self.rng.integers(0, 256))) & 255]
        self.trail = extra_bool(self, "trail")
        self.stepper = Stepper(120.0 * speed_rate(params.speed), max_steps=24)
        self.disc = disc_offsets(self.radius - 0.5)

    def _step(self) -> None:
        h = np.float32(self.STEP)
        self.vel[1] += np.float32(self.gravity) * h
        self.pos += self.vel * h
        lo, hi = self.bounds
        x, vx = self.pos[0], self.vel[0]
        hit = (x < lo) | (x > hi)
        vx[hit] *= -1
        np.clip(x, lo, hi, out=x)
        y, vy = self.pos[1], self.vel[1]
        down = (y > self.floor) & (vy > 0)
        if down.any():
            y[down] = self.floor
            vy[down] *= -self.restitution[down]
            weak = down & (-vy < self.kick)
            if weak.any():
                vy[weak] = -self.kick * self.rng.uniform(1.4, 2.0, int(weak.sum()))

    def render(self, t: float) -> Frame:
        steps = self.stepper.steps(t)
        for _ in range(steps):
            self._step()
        if self.trail:
            self.fade(steps * self.STEP, 0.05)
        else:
            self.buf[...] = 0
        splat(self.buf, self.pos[0], self.pos[1], self.colors, self.disc)
        return to_frame(self.buf)


class Comet(_Trails):
    """Heads on Lissajous loops leaving fading tails; colours cycle through the palette."""

    info = effect_info("comet")

    def __init__(self, width: int, height: int, params: EffectParams, seed: int = 0) -> None:
        super().__init__(width, height, params, seed)
        n = extra_int(self, "count")
        self.freq = self.rng.uniform(0.2, 0.5, (2, n)).astype(np.float32)
        self.phase = self.rng.uniform(0, 2 * math.pi, (2, n)).astype(np.float32)
        self.amp = np.array([[(width - 1) / 2], [(height - 1) / 2]], dtype=np.float32)
        self.rate = speed_rate(params.speed)
        self.half_life = 0.03 + 0.5 * unit(params.intensity)
        self.lut = effect_palette(self).astype(np.float32)
        self.offsets = np.arange(n) * 256 // n
        self.clock = Clock()
        self.prev: float | None = None
        self.disc = disc_offsets(max(0.0, min(width, height) / 32))

    def render(self, t: float) -> Frame:
        dt = self.clock.dt(t)
        self.fade(dt, self.half_life)
        s = t * self.rate
        # Sub-sample the path since the last frame so fast heads leave solid tails.
        prev = s if self.prev is None else self.prev
        times = np.linspace(prev, s, 6, dtype=np.float64)[:, None, None]
        self.prev = s
        pos = self.amp * np.sin(self.freq * (2 * math.pi) * times + self.phase) + self.amp
        xs = pos[:, 0, :].ravel().astype(np.float32)
        ys = pos[:, 1, :].ravel().astype(np.float32)
        hue = (self.offsets + int(t * 30.0)) & 255
        colors = np.tile(self.lut[hue], (times.shape[0], 1))
        splat(self.buf, xs, ys, colors, self.disc)
        return to_frame(self.buf)
