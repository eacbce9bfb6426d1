"""The render loop: wakes at once for a change, paces at the target fps, counts frames."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from pydantic import TypeAdapter

from lightbox.drivers.base import Driver
from lightbox.engine.loop import RenderLoop
from lightbox.protocol import MatrixSettings, NotFound, OutputSettings, Scene, Transition
from lightbox.render.output import OutputFrame, OutputStage
from lightbox.render.scene import SceneContext

SCENE = TypeAdapter(Scene)


class RecordingDriver(Driver):
    layout = "canvas"

    def __init__(self, delay: float = 0.0) -> None:
        self.frames: list[np.ndarray] = []
        self.delay = delay
        self.opened = self.closed = False
        self.event = threading.Event()

    def open(self) -> None:
        self.opened = True

    def show(self, frame: OutputFrame) -> None:
        if self.delay:
            time.sleep(self.delay)
        self.frames.append(frame.pixels.copy())
        self.event.set()

    def close(self) -> None:
        self.closed = True


def make_loop(driver: Driver, fps: int = 60, scene: dict[str, object] | None = None) -> RenderLoop:
    matrix = MatrixSettings(width=8, height=4)
    output = OutputSettings(gamma=1.0)
    return RenderLoop(
        SceneContext(8, 4),
        SCENE.validate_python(scene or {"type": "solid", "color": "#000000"}),
        OutputStage(matrix, output),
        driver,
        fps=fps,
        brightness=255,
    )


def test_change_shows_without_waiting_for_the_next_tick() -> None:
    driver = RecordingDriver()
    loop = make_loop(driver, fps=1)  # one frame a second: a change must not wait for it
    loop.start()
    try:
        assert driver.event.wait(2)
        time.sleep(0.05)
        started = time.monotonic()
        future = loop.update(
            scene=SCENE.validate_python({"type": "solid", "color": "#ff0000"}),
            transition=Transition(kind="cut"),
        )
        number = future.result(timeout=2)
        elapsed = time.monotonic() - started
        assert elapsed < 0.5, f"change took {elapsed:.3f} s at 1 fps"
        assert number == loop.shown
        assert (driver.frames[-1] == [255, 0, 0]).all()
    finally:
        loop.stop()
    assert driver.opened and driver.closed


def test_paces_at_target_fps_and_counts() -> None:
    driver = RecordingDriver()
    loop = make_loop(driver, fps=50)
    loop.start()
    time.sleep(0.5)
    loop.stop()
    stats = loop.stats()
    assert 10 <= loop.shown <= 30, loop.shown
    assert stats.rendered == loop.shown and stats.target_fps == 50


def test_slow_driver_counts_dropped_frames() -> None:
    driver = RecordingDriver(delay=0.05)  # 20 fps driver behind a 100 fps target
    loop = make_loop(driver, fps=100)
    loop.start()
    time.sleep(0.6)
    loop.stop()
    assert loop.dropped > 0
    assert loop.shown < 20


def test_refused_change_fails_its_future_and_keeps_running() -> None:
    driver = RecordingDriver()
    loop = make_loop(driver, fps=30)
    loop.start()
    try:
        future = loop.update(scene=SCENE.validate_python({"type": "image", "media": "gone.png"}))
        with pytest.raises(NotFound):
            future.result(timeout=2)
        ok = loop.update(brightness=10).result(timeout=2)
        assert ok > 0
    finally:
        loop.stop()


def test_power_off_shows_black_and_brightness_scales() -> None:
    driver = RecordingDriver()
    loop = make_loop(driver, scene={"type": "solid", "color": "#ffffff"})
    loop.update(power=False)
    _, out = loop.render_once()
    assert out.pixels.max() == 0
    loop.update(power=True, brightness=128)
    _, out = loop.render_once()
    assert 120 <= int(out.pixels.max()) <= 130


def test_identify_flashes() -> None:
    driver = RecordingDriver()
    loop = make_loop(driver)
    loop.update(identify_s=5)
    canvas, _ = loop.render_once()
    assert canvas.min() in (0, 255) and canvas.max() == canvas.min()


def test_stop_fails_pending_changes() -> None:
    loop = make_loop(RecordingDriver())
    idle = threading.Thread(target=lambda: None)
    idle.start()
    loop._thread = idle  # pretend a thread runs that never applies changes
    future = loop.update(brightness=1)
    loop.stop()
    with pytest.raises(RuntimeError, match="stopped"):
        future.result(timeout=1)


def test_notice_shows_text_over_the_scene_even_when_off() -> None:
    loop = make_loop(RecordingDriver(), scene={"type": "solid", "color": "#0000ff"})
    loop.update(power=False, brightness=0, notice=("AB12", 60))
    canvas, out = loop.render_once()
    assert (canvas == 255).all(axis=2).any(), "white text pixels"
    assert out.pixels.max() > 0, "visible although power is off and brightness 0"
    loop.update(notice=(None, 0))
    canvas, _ = loop.render_once()
    assert canvas.max() == 0
