"""The render loop: scene -> frame -> output stage -> driver, in its own thread.

The loop renders at the target fps on a dedicated thread so that neither rendering nor a
slow driver ever blocks the asyncio event loop. A change (scene, brightness, power) is
queued with :meth:`RenderLoop.update`, which wakes the thread at once: a command never
waits for the next tick. The returned future resolves with the number of the first frame
that shows the change, once the driver has taken it; a change that cannot be applied
(unknown media, for example) fails the future and leaves the current scene as it was.

Counters: ``rendered`` (frames produced), ``shown`` (frames the driver took) and
``dropped`` (ticks missed because a frame took longer than its period, plus frames the
driver refused).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from lightbox.drivers.base import Driver
from lightbox.protocol import Scene, Stats, Transition
from lightbox.render.frame import Frame, blank
from lightbox.render.output import OutputFrame, OutputStage
from lightbox.render.scene import FrameInputs, Player, Prepared, SceneContext, StreamFrame
from lightbox.render.text import render_text_mask

log = logging.getLogger(__name__)

Clock = Callable[[], float]


@dataclass(slots=True)
class _Change:
    scene: Scene | None = None
    transition: Transition | None = None
    brightness: int | None = None
    power: bool | None = None
    output: OutputStage | None = None
    ctx: SceneContext | None = None
    identify_s: float | None = None
    notice: tuple[str | None, float] | None = None  # (text or None to clear, seconds)
    prepared: Prepared | None = None  # the scene's renderer, built by the caller
    future: Future[int] = field(default_factory=Future)


class RenderLoop:
    """Owns a :class:`Player`, an :class:`OutputStage` and a :class:`Driver`."""

    def __init__(
        self,
        ctx: SceneContext,
        scene: Scene,
        output: OutputStage,
        driver: Driver,
        *,
        fps: int = 60,
        brightness: int = 128,
        power: bool = True,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
        name: str = "render",
    ) -> None:
        self._clock = clock
        self._wall = wall_clock
        self._player = Player(ctx, scene, clock(), wall_clock())
        self._output = output
        self._driver = driver
        self._fps = fps
        self._brightness = brightness
        self._power = power
        self._name = name
        self._changes: deque[_Change] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stream: StreamFrame | None = None
        self._identify_until = 0.0
        self._notice: tuple[str, float] | None = None
        self._lock = threading.Lock()
        self._frame_listeners: list[Callable[[int, Frame], None]] = []
        # counters
        self.rendered = 0
        self.shown = 0
        self.dropped = 0
        self._times: deque[float] = deque(maxlen=240)
        self._shown_at: deque[float] = deque(maxlen=120)
        self._estimated_ma = 0.0
        self._power_limited = False
        self._last_error: str | None = None

    # -- life cycle -------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._driver.open()
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread (waiting up to ``timeout``) and close the driver."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("render thread did not stop within %.1f s", timeout)
            self._thread = None
        self._fail_pending(RuntimeError("render loop stopped"))
        self._driver.close()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- inputs -----------------------------------------------------------------------
    def update(
        self,
        *,
        scene: Scene | None = None,
        transition: Transition | None = None,
        brightness: int | None = None,
        power: bool | None = None,
        output: OutputStage | None = None,
        ctx: SceneContext | None = None,
        identify_s: float | None = None,
        notice: tuple[str | None, float] | None = None,
        prepared: Prepared | None = None,
    ) -> Future[int]:
        """Queue a change; the future gives the number of the first frame showing it.

        ``notice`` shows a short text (a pairing or claim code) over the scene for the given
        seconds, even when the power is off; ``(None, 0)`` clears it. ``prepared`` is
        ``scene`` already built for :attr:`ctx` (see :func:`~lightbox.render.scene.prepare`):
        the render thread then only swaps it in, and the change cannot fail there.
        """
        change = _Change(
            scene, transition, brightness, power, output, ctx, identify_s, notice, prepared
        )
        with self._lock:
            self._changes.append(change)
        self._wake.set()
        if self._thread is None:  # not running: apply now (tests, one-shot rendering)
            self._apply_changes()
        return change.future

    def push_stream(self, frame: Frame, source: str) -> None:
        """Hand over the latest realtime frame (any thread); a stream scene shows it."""
        self._stream = StreamFrame(frame, source, self._clock())
        self._wake.set()

    def add_frame_listener(self, listener: Callable[[int, Frame], None]) -> None:
        """Call ``listener(frame_number, canvas)`` on the render thread after each show."""
        self._frame_listeners.append(listener)

    @property
    def player(self) -> Player:
        return self._player

    @property
    def ctx(self) -> SceneContext:
        """The context scenes are built for (it changes only with an ``update(ctx=...)``)."""
        return self._player.ctx

    def stats(self) -> Stats:
        times = sorted(self._times)
        shown_at = list(self._shown_at)
        fps = 0.0
        if len(shown_at) >= 2 and shown_at[-1] > shown_at[0]:
            fps = (len(shown_at) - 1) / (shown_at[-1] - shown_at[0])
        return Stats(
            fps=round(fps, 2),
            target_fps=self._fps,
            rendered=self.rendered,
            shown=self.shown,
            dropped=self.dropped,
            render_ms_p50=round(times[len(times) // 2] * 1000, 3) if times else 0.0,
            render_ms_p99=round(times[min(len(times) - 1, int(len(times) * 0.99))] * 1000, 3)
            if times
            else 0.0,
            estimated_ma=round(self._estimated_ma, 1),
            power_limited=self._power_limited,
        )

    # -- the thread -------------------------------------------------------------------
    def _apply_changes(self) -> list[Future[int]]:
        applied: list[Future[int]] = []
        while True:
            with self._lock:
                if not self._changes:
                    break
                change = self._changes.popleft()
            try:
                now, wall = self._clock(), self._wall()
                if change.ctx is not None:
                    scene = change.scene or self._player.scene
                    player = Player(change.ctx, scene, now, wall)
                    self._player = player
                elif change.scene is not None:
                    self._player.set_scene(
                        change.scene,
                        change.transition or Transition(kind="cut"),
                        now,
                        wall,
                        change.prepared,
                    )
                if change.output is not None:
                    self._output = change.output
                if change.brightness is not None:
                    self._brightness = change.brightness
                if change.power is not None:
                    self._power = change.power
                if change.identify_s is not None:
                    self._identify_until = now + change.identify_s
                if change.notice is not None:
                    text, seconds = change.notice
                    self._notice = (text, now + seconds) if text else None
            except Exception as err:  # a bad change must never kill the loop
                log.warning("change refused: %s", err)
                change.future.set_exception(err)
                continue
            applied.append(change.future)
        return applied

    def _fail_pending(self, err: Exception) -> None:
        with self._lock:
            pending = list(self._changes)
            self._changes.clear()
        for change in pending:
            if not change.future.done():
                change.future.set_exception(err)

    def _produce(self, now: float) -> tuple[Frame, OutputFrame]:
        inputs = FrameInputs(now=now, wall_time=self._wall(), stream=self._stream)
        if self._power:
            canvas = self._player.render(inputs)
        else:
            canvas = blank(self._player.ctx.width, self._player.ctx.height)
        if now < self._identify_until:
            canvas = _identify_overlay(canvas, now)
        brightness = self._brightness
        if self._notice is not None:
            if now < self._notice[1]:
                canvas = _notice_overlay(canvas, self._notice[0])
                brightness = max(brightness, 96)  # readable even when dimmed or off
            else:
                self._notice = None
        out = self._output.process(canvas, brightness, self._driver.layout)
        self._estimated_ma = out.estimated_ma
        self._power_limited = out.power_scale < 1.0
        return canvas, out

    def render_once(self) -> tuple[Frame, OutputFrame]:
        """Apply queued changes, then render and encode one frame on the caller's thread."""
        self._apply_changes()
        return self._produce(self._clock())

    def _run(self) -> None:
        period = 1.0 / self._fps
        next_due = self._clock()
        pending: list[Future[int]] = []
        while not self._stop.is_set():
            pending.extend(self._apply_changes())
            started = self._clock()
            try:
                canvas, out = self._produce(started)
                self.rendered += 1
                self._times.append(self._clock() - started)
                self._driver.show(out)
            except Exception as err:
                self.dropped += 1
                message = f"{type(err).__name__}: {err}"
                if message != self._last_error:
                    log.exception("frame failed")
                    self._last_error = message
                time.sleep(min(period, 0.1))
                continue
            self.shown += 1
            self._shown_at.append(self._clock())
            number = self.shown
            for future in pending:
                if not future.done():
                    future.set_result(number)
            pending.clear()
            for listener in self._frame_listeners:
                try:
                    listener(number, canvas)
                except Exception:
                    log.exception("frame listener failed")
            # pacing: missed deadlines count as dropped frames
            next_due += period
            now = self._clock()
            if now > next_due + period:
                missed = int((now - next_due) / period)
                self.dropped += missed
                next_due += missed * period
            delay = next_due - now
            if delay > 0:
                self._wake.wait(delay)
            self._wake.clear()
            if self._changes:
                next_due = self._clock()  # a change shows at once, then the cadence resumes


def _notice_overlay(canvas: Frame, text: str) -> Frame:
    """``text`` in white on a black box in the middle, in the largest font that fits."""
    height, width = canvas.shape[:2]
    mask = None
    for font in ("8x16", "6x10", "5x7"):
        mask = render_text_mask(text, font)
        if mask.shape[1] <= width and mask.shape[0] <= height:
            break
    assert mask is not None
    out = canvas.copy()
    mh, mw = min(mask.shape[0], height), min(mask.shape[1], width)
    y0, x0 = (height - mh) // 2, (width - mw) // 2
    box = out[max(0, y0 - 1) : y0 + mh + 1, max(0, x0 - 1) : x0 + mw + 1]
    box[...] = 0
    region = out[y0 : y0 + mh, x0 : x0 + mw]
    region[mask[:mh, :mw] > 127] = 255
    return out


def _identify_overlay(canvas: Frame, now: float) -> Frame:
    """Flash the whole matrix white and black at 2 Hz."""
    on = int(now * 4) % 2 == 0
    out = np.empty_like(canvas)
    out[...] = 255 if on else 0
    return out
