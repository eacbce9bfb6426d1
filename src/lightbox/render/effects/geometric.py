"""Drawn shapes: Larson scanner, checkerboard, DNA helix, analogue clock face."""

from __future__ import annotations

import math

import numpy as np

from lightbox.protocol.catalog import effect_info
from lightbox.render.effects._common import (
    F32,
    Grid,
    color,
    extra_bool,
    lookup,
    speed_rate,
    to_frame,
    unit,
)
from lightbox.render.effects.base import Effect, EffectParams
from lightbox.render.frame import Frame


def _over(out: F32, coverage: F32, rgb: F32) -> None:
    """Paint ``rgb`` over ``out`` (``H x W x 3``) with ``coverage`` (``H x W``, 0..1)."""
    out += coverage[:, :, None] * (rgb - out)


class Scanner(Effect):
    """A vertical bar sweeping as a triangle wave; each column glows with the time since the
    bar last passed it, computed in closed form (no state)."""

    info = effect_info("scanner")

    def __init__(self, width: int, height: int, params: EffectParams, seed: int = 0) -> None:
        super().__init__(width, height, params, seed)
        self.rgb = color(self, 0, (255, 0, 0))
        self.period = 2.3 / speed_rate(params.speed)  # one sweep there and back
        self.decay = self.period * (0.03 + 0.35 * unit(params.intensity))
        # Phase (0..1) of the two moments in each cycle when the bar crosses each column.
        a = np.full(width, 0.5) if width == 1 else np.arange(width) / (width - 1)
        self.cross = np.stack([a / 2, 1 - a / 2]).astype(np.float32)

    def render(self, t: float) -> Frame:
        u = np.float32(t / self.period % 1.0)
        since = np.mod(u - self.cross, np.float32(1.0)).min(axis=0) * np.float32(self.period)
        bri = np.exp(-since / np.float32(self.decay))
        row = np.clip(bri[:, None] * self.rgb[None, :] + 0.5, 0, 255).astype(np.uint8)
        return np.broadcast_to(row[None, :, :], (self.height, self.width, 3)).copy()


class Checker(Effect):
    """A checkerboard of colours 1 and 2 sliding diagonally and, with ``rotate``, turning."""

    info = effect_info("checker")

    def __init__(self, width: int, height: int, params: EffectParams, seed: int = 0) -> None:
        super().__init__(width, height, params, seed)
        cells = 2.0 + 14.0 * unit(params.intensity)
        self.size = max(1.0, max(width, height) / cells)
        self.dx = (np.arange(width) - (width - 1) / 2).astype(np.float32)
        self.dy = (np.arange(height) - (height - 1) / 2).astype(np.float32)
        self.rotate = extra_bool(self, "rotate")
        self.rate = speed_rate(params.speed)
        lut = np.stack([color(self, 0, (255, 255, 255)), color(self, 1, (0, 0, 160))])
        self.lut = lut.astype(np.uint8)

    def render(self, t: float) -> Frame:
        s = t * self.rate
        theta = (s * 0.2) % (2 * math.pi) if self.rotate else 0.0
        c, sn = math.cos(theta), math.sin(theta)
        shift = (s * 0.5 % 2.0) * self.size
        inv = np.float32(1.0 / self.size)
        u = (self.dx * np.float32(c * inv))[None, :] + (self.dy * np.float32(sn * inv))[:, None]
        v = (self.dx * np.float32(-sn * inv))[None, :] + (self.dy * np.float32(c * inv))[:, None]
        u += np.float32(shift * inv)
        v += np.float32(shift * inv)
        parity = (np.floor(u).astype(np.int32) + np.floor(v).astype(np.int32)) & 1
        return lookup(self.lut, parity)


class Dna(Effect):
    """Two sine strands half a turn apart; the nearer one (by cos of the phase) is drawn
    brighter and on top, with rungs between them."""

    info = effect_info("dna")

    def __init__(self, width: int, height: int, params: EffectParams, seed: int = 0) -> None:
        super().__init__(width, height, params, seed)
        g = Grid(width, height)
        self.turns = 0.5 + 3.5 * unit(params.intensity)
        self.ux = (g.u * self.turns * 2 * math.pi).astype(np.float32)
        self.py = g.py[:, None]
        self.amp = max(0.0, (height - 1) / 2 * 0.8)
        self.cy = (height - 1) / 2
        self.half = max(0.6, height / 20)
        spacing = max(3, round(width / (self.turns * 6)))
        self.rung_cols = (np.arange(width) % spacing == spacing // 2).astype(np.float32)
        self.colors = [
            color(self, 0, (255, 40, 90)),
            color(self, 1, (40, 140, 255)),
            color(self, 2, (120, 120, 120)),
        ]
        self.rate = 1.5 * speed_rate(params.speed)

    def render(self, t: float) -> Frame:
        phase = self.ux + np.float32((t * self.rate) % (2 * math.pi))
        sin = np.sin(phase)
        depth = np.cos(phase)  # > 0: strand 1 in front
        y1 = self.cy + self.amp * sin
        y2 = self.cy - self.amp * sin
        out = np.zeros((self.height, self.width, 3), dtype=np.float32)
        lo, hi = np.minimum(y1, y2), np.maximum(y1, y2)
        rung = ((self.py >= lo) & (self.py <= hi)) * self.rung_cols
        _over(out, rung.astype(np.float32), self.colors[2])
        # Per column, which strand is in front: compose the far strand (dimmed) and then
        # the near one as two layers with per-column colours (painter's order).
        front1 = depth > 0
        near_y = np.where(front1, y1, y2)[None, :]
        far_y = np.where(front1, y2, y1)[None, :]
        c1, c2 = self.colors[0], self.colors[1]
        near_rgb = np.where(front1[:, None], c1, c2)[None, :, :]
        far_rgb = np.where(front1[:, None], c2, c1)[None, :, :] * np.float32(0.4)
        reach = np.float32(self.half + 0.5)
        far = np.clip(reach - np.abs(self.py - far_y), 0, 1)
        _over(out, far.astype(np.float32), far_rgb)
        shade = np.float32(0.6) + np.float32(0.4) * np.abs(depth)
        near = np.clip(reach - np.abs(self.py - near_y), 0, 1) * shade[None, :]
        _over(out, near.astype(np.float32), near_rgb)
        return to_frame(out)


class ClockFace(Effect):
    """An analogue clock face.

    Effects are pure and only see ``t`` (seconds since the scene started), so the engine
    passes the wall clock in ``params.extra``: ``"wall_time"`` is the Unix time (seconds,
    float) at ``t = 0`` and ``"utc_offset"`` the local offset from UTC in seconds (time zone
    and DST already resolved). The clock shows ``wall_time + utc_offset + t``. Without
    ``"wall_time"`` it shows ``t`` itself, starting at 12:00:00.
    """

    info = effect_info("clock_face")

    def __init__(self, width: int, height: int, params: EffectParams, seed: int = 0) -> None:
        super().__init__(width, height, params, seed)
        self.dx = (np.arange(width) - (width - 1) / 2).astype(np.float32)[None, :]
        self.dy = (np.arange(height) - (height - 1) / 2).astype(np.float32)[:, None]
        radius = max(0.5, min(width, height) / 2 - 0.5)
        self.radius = radius
        wall = params.extra.get("wall_time", 0.0)
        offset = params.extra.get("utc_offset", 0.0)
        base = (float(wall) if isinstance(wall, int | float) else 0.0) + (
            float(offset) if isinstance(offset, int | float) else 0.0
        )
        self.base = base % 86400.0
        self.show_seconds = extra_bool(self, "show_seconds")
        self.hands = [
            (color(self, 0, (255, 190, 80)), 0.55 * radius, max(0.9, radius * 0.14)),
            (color(self, 1, (255, 255, 255)), 0.85 * radius, max(0.7, radius * 0.09)),
            (color(self, 2, (255, 30, 30)), 0.92 * radius, max(0.5, radius * 0.04)),
        ]
        self.dial = self._dial(0.15 + 0.85 * unit(params.intensity))

    def _dial(self, level: float) -> F32:
        r = np.hypot(self.dx, self.dy)
        ring = np.clip(1.0 - np.abs(r - self.radius), 0.0, 1.0) * 0.35
        ticks = np.zeros_like(r)
        for k in range(12):
            a = k * math.pi / 6
            tx, ty = math.sin(a) * self.radius * 0.82, -math.cos(a) * self.radius * 0.82
            size = max(0.6, self.radius * (0.09 if k % 3 == 0 else 0.05))
            dist = np.hypot(self.dx - tx, self.dy - ty)
            ticks = np.maximum(ticks, np.clip(size + 0.5 - dist, 0.0, 1.0))
        dial = np.maximum(ring, ticks)[:, :, None] * np.array([150.0, 160.0, 190.0]) * level
        return np.asarray(dial, dtype=np.float32)

    def _draw_hand(self, out: F32, angle: float, length: float, width: float, rgb: F32) -> None:
        """Anti-aliased capsule from the centre, computed only inside its bounding box."""
        sx, sy = math.sin(angle), -math.cos(angle)
        pad = width * 0.5 + 1.5
        cx, cy = (self.width - 1) / 2, (self.height - 1) / 2
        x0 = max(0, math.floor(cx + min(0.0, length * sx) - pad))
        x1 = min(self.width, math.ceil(cx + max(0.0, length * sx) + pad) + 1)
        y0 = max(0, math.floor(cy + min(0.0, length * sy) - pad))
        y1 = min(self.height, math.ceil(cy + max(0.0, length * sy) + pad) + 1)
        if x0 >= x1 or y0 >= y1:
            return
        dx, dy = self.dx[:, x0:x1], self.dy[y0:y1, :]
        along = dx * np.float32(sx) + dy * np.float32(sy)
        across = np.abs(dx * np.float32(sy) - dy * np.float32(sx))
        beyond = np.maximum(along - np.float32(length), -along - np.float32(width * 0.5))
        dist = np.hypot(across, np.maximum(beyond, 0))
        cover = np.clip(np.float32(width * 0.5 + 0.5) - dist, 0.0, 1.0).astype(np.float32)
        _over(out[y0:y1, x0:x1], cover, rgb)

    def render(self, t: float) -> Frame:
        now = (self.base + t) % 43200.0
        seconds = now % 60.0
        minutes = now / 60.0 % 60.0
        hours = now / 3600.0
        out = self.dial.copy()
        angles = [hours / 12.0, minutes / 60.0, seconds / 60.0]
        count = 3 if self.show_seconds else 2
        for (rgb, length, width), turn in list(zip(self.hands, angles, strict=True))[:count]:
            self._draw_hand(out, turn * 2 * math.pi, length, width, rgb)
        return to_frame(out)
