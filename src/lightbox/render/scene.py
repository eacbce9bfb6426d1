"""From a scene (the wire model) to frames.

:func:`build` turns a :data:`~lightbox.protocol.Scene` into a :class:`SceneRenderer`, and
:class:`Player` shows one scene after another with transitions. Everything here is pure:
the caller passes the time in (:class:`FrameInputs`) and supplies decoded media through
:class:`SceneContext`, so the same scene, inputs and seed always give the same frames.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import numpy as np

from lightbox.protocol import (
    ClockScene,
    EffectScene,
    GifScene,
    ImageScene,
    LayersScene,
    Scene,
    SolidScene,
    StreamScene,
    TextScene,
    Transition,
)
from lightbox.protocol.timezones import check_timezone
from lightbox.render import compose
from lightbox.render.effects import create_effect
from lightbox.render.effects.base import EffectParams
from lightbox.render.frame import Frame, Layer, filled
from lightbox.render.media import DecodedMedia, GifRenderer, ImageRenderer
from lightbox.render.text import TextOptions, TextRenderer, measure, render_text_mask


@dataclass(frozen=True, slots=True)
class StreamFrame:
    """The latest frame of a realtime stream, already at canvas size."""

    frame: Frame
    source: str
    received: float  # monotonic seconds, same clock as FrameInputs.now


@dataclass(frozen=True, slots=True)
class FrameInputs:
    """Everything from outside that a frame may depend on."""

    now: float  # monotonic seconds
    wall_time: float  # seconds since the Unix epoch (UTC)
    stream: StreamFrame | None = None


MediaResolver = Callable[[str], DecodedMedia]


def _no_media(media_id: str) -> DecodedMedia:
    from lightbox.protocol import NotFound

    raise NotFound(f"media {media_id!r} is not in the library", code="media_not_found")


@dataclass(frozen=True, slots=True)
class SceneContext:
    width: int
    height: int
    timezone: str = "UTC"
    media: MediaResolver = _no_media
    seed: int = 0


class SceneRenderer(Protocol):
    def render(self, t: float, inputs: FrameInputs) -> Layer:
        """The layer at ``t`` seconds since the scene started."""

    def finished(self, t: float) -> bool:
        """Whether a finite scene (text loops, GIF loops) has played out at ``t``."""


class _Solid:
    def __init__(self, scene: SolidScene, ctx: SceneContext) -> None:
        self._layer = Layer(filled(ctx.width, ctx.height, scene.color))

    def render(self, t: float, inputs: FrameInputs) -> Layer:
        return self._layer

    def finished(self, t: float) -> bool:
        return False


class _Effect:
    def __init__(self, scene: EffectScene, ctx: SceneContext, start_wall: float) -> None:
        extra: dict[str, int | float | bool | str] = dict(scene.params)
        zone = check_timezone(ctx.timezone)
        offset = datetime.fromtimestamp(start_wall, zone).utcoffset()
        extra["wall_time"] = start_wall
        extra["utc_offset"] = offset.total_seconds() if offset else 0.0
        params = EffectParams(
            speed=scene.speed,
            intensity=scene.intensity,
            palette=scene.palette,
            colors=tuple(scene.colors),
            extra=extra,
        )
        self._effect = create_effect(scene.effect, ctx.width, ctx.height, params, seed=ctx.seed)

    def render(self, t: float, inputs: FrameInputs) -> Layer:
        return Layer(self._effect.render(t))

    def finished(self, t: float) -> bool:
        return False


class _Text:
    def __init__(self, scene: TextScene, ctx: SceneContext) -> None:
        self._text = TextRenderer(
            ctx.width,
            ctx.height,
            TextOptions(
                text=scene.text,
                font=scene.font,
                size=scene.size,
                color=scene.color,
                background=scene.background,
                mode=scene.mode,
                speed=scene.speed,
                direction=scene.direction,
                align=scene.align,
                valign=scene.valign,
                gap=scene.gap,
                letter_spacing=scene.letter_spacing,
                loops=scene.loops,
            ),
        )

    def render(self, t: float, inputs: FrameInputs) -> Layer:
        return self._text.render(t)

    def finished(self, t: float) -> bool:
        return self._text.finished(t)


class _Media:
    def __init__(self, scene: ImageScene | GifScene, ctx: SceneContext) -> None:
        decoded = ctx.media(scene.media)
        self._renderer: ImageRenderer | GifRenderer
        if isinstance(scene, GifScene):
            self._renderer = GifRenderer(
                decoded,
                ctx.width,
                ctx.height,
                fit_mode=scene.fit,
                background=scene.background,
                loop=scene.loops,
                speed=scene.speed,
            )
        else:
            self._renderer = ImageRenderer(
                decoded, ctx.width, ctx.height, fit_mode=scene.fit, background=scene.background
            )

    def render(self, t: float, inputs: FrameInputs) -> Layer:
        return self._renderer.render(t)

    def finished(self, t: float) -> bool:
        return self._renderer.finished(t)


class _Clock:
    """A digital clock: time on one line, the date below it when asked for."""

    def __init__(self, scene: ClockScene, ctx: SceneContext) -> None:
        self._scene = scene
        self._width = ctx.width
        self._height = ctx.height
        self._zone = check_timezone(scene.timezone or ctx.timezone)
        self._key: tuple[str, str] | None = None
        self._layer = Layer(filled(ctx.width, ctx.height, scene.background))

    def _texts(self, wall_time: float) -> tuple[str, str]:
        now = datetime.fromtimestamp(wall_time, self._zone)
        s = self._scene
        if s.format == "24h":
            clock = now.strftime("%H:%M:%S" if s.seconds else "%H:%M")
        else:
            hour = now.hour % 12 or 12
            clock = f"{hour}:{now:%M}" + (f":{now:%S}" if s.seconds else "")
            clock += "am" if now.hour < 12 else "pm"
        date = now.strftime("%a %d %b") if s.date else ""
        return clock, date

    def render(self, t: float, inputs: FrameInputs) -> Layer:
        key = self._texts(inputs.wall_time)
        if key != self._key:
            self._key = key
            self._layer = Layer(self._draw(*key))
        return self._layer

    def _draw(self, clock: str, date: str) -> Frame:
        s = self._scene
        frame = filled(self._width, self._height, s.background)
        font = self._fitting_font(clock, date)
        lines = [(render_text_mask(clock, font), s.color)]
        if date:
            lines.append((render_text_mask(date, font), s.date_color or s.color))
        total = sum(mask.shape[0] for mask, _ in lines) + (len(lines) - 1)
        y = (self._height - total) // 2
        for mask, color in lines:
            x = (self._width - mask.shape[1]) // 2
            _stamp(frame, mask, x, y, tuple(color))
            y += mask.shape[0] + 1
        return frame

    def _fitting_font(self, clock: str, date: str) -> str:
        """The chosen font, or a smaller bitmap font when the text would not fit."""
        fonts = [self._scene.font] + [f for f in _CLOCK_FALLBACK if f != self._scene.font]
        for font in fonts:
            w1, h1 = measure(clock, font)
            w2, h2 = measure(date, font) if date else (0, -1)
            if max(w1, w2) <= self._width and h1 + h2 + 1 <= self._height:
                return font
        return fonts[-1]

    def finished(self, t: float) -> bool:
        return False


_CLOCK_FALLBACK = ("8x16", "6x10", "5x7")


def _stamp(frame: Frame, mask: np.ndarray, x: int, y: int, color: tuple[int, ...]) -> None:
    """Blend a colour through ``mask`` onto ``frame`` at (x, y), clipped to the frame."""
    h, w = frame.shape[:2]
    mh, mw = mask.shape
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + mw, w), min(y + mh, h)
    if x0 >= x1 or y0 >= y1:
        return
    sub = mask[y0 - y : y1 - y, x0 - x : x1 - x].astype(np.float32)[..., None] / 255.0
    region = frame[y0:y1, x0:x1].astype(np.float32)
    rgb = np.array(color, dtype=np.float32)
    frame[y0:y1, x0:x1] = (region + (rgb - region) * sub + 0.5).astype(np.uint8)


class _Stream:
    def __init__(self, scene: StreamScene, ctx: SceneContext) -> None:
        self._scene = scene
        self._black = Layer(filled(ctx.width, ctx.height, (0, 0, 0)))
        self._last: Layer | None = None
        self._shape = (ctx.height, ctx.width, 3)

    def render(self, t: float, inputs: FrameInputs) -> Layer:
        s = self._scene
        stream = inputs.stream
        fresh = (
            stream is not None
            and stream.frame.shape == self._shape
            and (s.source == "any" or stream.source == s.source)
            and (inputs.now - stream.received) * 1000.0 <= s.timeout_ms
        )
        if fresh and stream is not None:
            self._last = Layer(stream.frame)
            return self._last
        if s.idle == "hold" and self._last is not None:
            return self._last
        return self._black

    def finished(self, t: float) -> bool:
        return False


class _Layers:
    def __init__(self, scene: LayersScene, ctx: SceneContext, start_wall: float) -> None:
        self._scene = scene
        self._base = filled(ctx.width, ctx.height, scene.background)
        self._layers = [
            (build(layer.scene, ctx, start_wall), layer.opacity, layer.blend)
            for layer in scene.layers
            if layer.visible
        ]

    def render(self, t: float, inputs: FrameInputs) -> Layer:
        frame = self._base
        for renderer, opacity, blend in self._layers:
            frame = compose.composite(frame, renderer.render(t, inputs), opacity, blend)
        return Layer(frame)

    def finished(self, t: float) -> bool:
        return bool(self._layers) and all(r.finished(t) for r, _, _ in self._layers)


def build(scene: Scene, ctx: SceneContext, start_wall: float = 0.0) -> SceneRenderer:
    """A renderer for ``scene`` at the context's size. ``start_wall``: wall time at start."""
    if isinstance(scene, SolidScene):
        return _Solid(scene, ctx)
    if isinstance(scene, EffectScene):
        return _Effect(scene, ctx, start_wall)
    if isinstance(scene, TextScene):
        return _Text(scene, ctx)
    if isinstance(scene, ImageScene | GifScene):
        return _Media(scene, ctx)
    if isinstance(scene, ClockScene):
        return _Clock(scene, ctx)
    if isinstance(scene, StreamScene):
        return _Stream(scene, ctx)
    if isinstance(scene, LayersScene):
        return _Layers(scene, ctx, start_wall)
    raise TypeError(f"not a scene: {type(scene).__name__}")


@dataclass(frozen=True, slots=True)
class Prepared:
    """A scene's renderer built ahead of time (off the render thread) for one context.

    Building is where a scene can fail (media that cannot be decoded, text that does not
    render): preparing first lets the caller refuse a bad scene before anything changes,
    and leaves the render thread only the swap.
    """

    scene: Scene
    ctx: SceneContext
    renderer: SceneRenderer


def prepare(scene: Scene, ctx: SceneContext, start_wall: float = 0.0) -> Prepared:
    """Build ``scene``'s renderer for ``ctx`` now; raises what :func:`build` raises."""
    return Prepared(scene, ctx, build(scene, ctx, start_wall))


@dataclass(slots=True)
class _Showing:
    scene: Scene
    renderer: SceneRenderer
    started: float  # monotonic


@dataclass(slots=True)
class _Fading:
    old: _Showing
    transition: Transition
    started: float
    thresholds: np.ndarray | None = field(default=None)


class Player:
    """Shows one scene at a time and runs the transition between scenes.

    ``set_scene`` may raise (unknown media, bad data); the current scene then stays.
    """

    def __init__(self, ctx: SceneContext, scene: Scene, now: float, wall_time: float) -> None:
        self.ctx = ctx
        self._current = _Showing(scene, build(scene, ctx, wall_time), now)
        self._fade: _Fading | None = None
        self._dissolve_rng = np.random.default_rng(ctx.seed + 1)

    @property
    def scene(self) -> Scene:
        return self._current.scene

    @property
    def in_transition(self) -> bool:
        return self._fade is not None

    def scene_time(self, now: float) -> float:
        return max(0.0, now - self._current.started)

    def finished(self, now: float) -> bool:
        return self._current.renderer.finished(self.scene_time(now))

    def set_scene(
        self,
        scene: Scene,
        transition: Transition,
        now: float,
        wall_time: float,
        prepared: Prepared | None = None,
    ) -> None:
        """Show ``scene`` from ``now``; ``prepared`` is used if built for it and this context."""
        if prepared is not None and prepared.scene is scene and prepared.ctx is self.ctx:
            renderer = prepared.renderer
        else:
            renderer = build(scene, self.ctx, wall_time)  # raises before anything changes
        old = self._current
        self._current = _Showing(scene, renderer, now)
        if transition.kind == "cut" or transition.duration_ms == 0:
            self._fade = None
            return
        thresholds = None
        if transition.kind == "dissolve":
            thresholds = self._dissolve_rng.random(
                (self.ctx.height, self.ctx.width), dtype=np.float32
            )
        self._fade = _Fading(old, transition, now, thresholds)

    def render(self, inputs: FrameInputs) -> Frame:
        now = inputs.now
        cur = self._current
        new = compose.flatten(cur.renderer.render(now - cur.started, inputs))
        fade = self._fade
        if fade is None:
            return new
        amount = (now - fade.started) * 1000.0 / fade.transition.duration_ms
        if amount >= 1.0:
            self._fade = None
            return new
        amount = max(amount, 0.0)
        old = compose.flatten(fade.old.renderer.render(now - fade.old.started, inputs))
        kind = fade.transition.kind
        if kind == "fade":
            return compose.mix(old, new, amount)
        if kind == "dissolve" and fade.thresholds is not None:
            return compose.select(old, new, compose.dissolve_mask(fade.thresholds, amount))
        direction = kind.removeprefix("wipe_")
        mask = compose.wipe_mask(self.ctx.width, self.ctx.height, direction, amount)
        return compose.select(old, new, mask)
