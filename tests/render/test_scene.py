"""Scenes to frames: layers, transitions, clock, stream, media scenes, and the Player."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from pydantic import TypeAdapter

from lightbox.protocol import NotFound, Scene, Transition
from lightbox.render import compose
from lightbox.render.frame import Layer, filled
from lightbox.render.media import decode
from lightbox.render.scene import (
    FrameInputs,
    Player,
    SceneContext,
    StreamFrame,
    build,
    prepare,
)
from tests.goldens import assert_golden

SCENE = TypeAdapter(Scene)
W, H = 32, 16
# 2026-12-03 15:04:05 UTC
WALL = 1796310245.0


def scene(data: dict[str, object]) -> Scene:
    return SCENE.validate_python(data)


def ctx(**kw: object) -> SceneContext:
    return SceneContext(W, H, **kw)  # type: ignore[arg-type]


def frame_of(data: dict[str, object], t: float = 0.0, **kw: object) -> np.ndarray:
    player = Player(ctx(**kw), scene(data), 0.0, WALL)
    return player.render(FrameInputs(now=t, wall_time=WALL + t))


def test_solid_fills_every_pixel() -> None:
    frame = frame_of({"type": "solid", "color": "#102030"})
    assert frame.shape == (H, W, 3) and frame.dtype == np.uint8
    assert (frame == [0x10, 0x20, 0x30]).all()


def test_layers_text_over_effect_golden() -> None:
    data = {
        "type": "layers",
        "layers": [
            {"scene": {"type": "effect", "effect": "plasma"}},
            {"scene": {"type": "text", "text": "Hi", "mode": "static"}, "opacity": 1.0},
        ],
    }
    assert_golden(frame_of(data, 0.5), "scene/layers_text_over_plasma")


def test_layer_opacity_and_blend_modes() -> None:
    base = filled(2, 1, (100, 100, 100))
    top = Layer(filled(2, 1, (200, 50, 0)))
    assert compose.composite(base, top, 0.5, "normal")[0, 0].tolist() == [150, 75, 50]
    assert compose.composite(base, top, 1.0, "add")[0, 0].tolist() == [255, 150, 100]
    assert compose.composite(base, top, 1.0, "multiply")[0, 0].tolist() == [78, 20, 0]
    assert compose.composite(base, top, 1.0, "screen")[0, 0].tolist() == [222, 130, 100]
    assert compose.composite(base, top, 0.0, "normal") is base
    masked = Layer(filled(2, 1, (0, 0, 0)), alpha=np.array([[255, 0]], dtype=np.uint8))
    assert compose.composite(base, masked)[0].tolist() == [[0, 0, 0], [100, 100, 100]]


def test_invisible_layers_are_skipped() -> None:
    data = {
        "type": "layers",
        "background": "#000000",
        "layers": [{"scene": {"type": "solid", "color": "#ffffff"}, "visible": False}],
    }
    assert frame_of(data).max() == 0


def test_clock_shows_local_time_golden() -> None:
    data = {"type": "clock", "timezone": "Europe/Berlin", "font": "8x16"}
    frame = frame_of(data)  # 8x16 is too wide for 32 pixels: a smaller font is used
    assert_golden(frame, "scene/clock_berlin_1604")
    # an hour later in the device's zone the picture changes
    later = Player(ctx(), scene(data), 0.0, WALL).render(FrameInputs(now=0, wall_time=WALL + 3600))
    assert not np.array_equal(frame, later)


def test_clock_with_seconds_and_date_golden() -> None:
    player = Player(
        SceneContext(64, 32),
        scene({"type": "clock", "seconds": True, "date": True, "date_color": "#ff8000"}),
        0.0,
        WALL,
    )
    assert_golden(player.render(FrameInputs(now=0, wall_time=WALL)), "scene/clock_utc_date")


def test_clock_12h_format() -> None:
    data = {"type": "clock", "format": "12h", "timezone": "UTC", "font": "5x7"}
    renderer = build(scene(data), ctx(), WALL)
    assert renderer._texts(WALL) == ("3:04pm", "")  # type: ignore[attr-defined]


def test_stream_scene_shows_fresh_frames_then_idles() -> None:
    player = Player(ctx(), scene({"type": "stream", "timeout_ms": 500, "idle": "black"}), 0.0, WALL)
    red = filled(W, H, (255, 0, 0))
    fresh = StreamFrame(red, "ddp", received=1.0)
    assert (player.render(FrameInputs(now=1.2, wall_time=WALL, stream=fresh)) == red).all()
    assert player.render(FrameInputs(now=1.6, wall_time=WALL, stream=fresh)).max() == 0
    hold = Player(ctx(), scene({"type": "stream", "timeout_ms": 500, "idle": "hold"}), 0.0, WALL)
    hold.render(FrameInputs(now=1.2, wall_time=WALL, stream=fresh))
    assert (hold.render(FrameInputs(now=9.0, wall_time=WALL, stream=fresh)) == red).all()
    wrong_source = Player(ctx(), scene({"type": "stream", "source": "e131"}), 0.0, WALL)
    assert wrong_source.render(FrameInputs(now=1.1, wall_time=WALL, stream=fresh)).max() == 0


def _png(color: tuple[int, int, int], size: tuple[int, int] = (8, 4)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


def test_image_scene_uses_the_media_resolver() -> None:
    media = {"blue.png": decode(_png((0, 0, 255)))}
    frame = frame_of({"type": "image", "media": "blue.png", "fit": "fill"}, media=media.__getitem__)
    assert (frame == [0, 0, 255]).all()


def test_missing_media_raises_not_found() -> None:
    with pytest.raises(NotFound, match="media 'nope.png'"):
        build(scene({"type": "image", "media": "nope.png"}), ctx())


def test_player_cut_and_fade_transitions() -> None:
    black = scene({"type": "solid", "color": "#000000"})
    white = scene({"type": "solid", "color": "#ffffff"})
    player = Player(ctx(), black, 0.0, WALL)
    player.set_scene(white, Transition(kind="fade", duration_ms=1000), now=10.0, wall_time=WALL)
    assert player.in_transition
    mid = player.render(FrameInputs(now=10.5, wall_time=WALL))
    assert 120 <= int(mid[0, 0, 0]) <= 135
    end = player.render(FrameInputs(now=11.0, wall_time=WALL))
    assert (end == 255).all() and not player.in_transition
    player.set_scene(black, Transition(kind="cut"), now=12.0, wall_time=WALL)
    assert player.render(FrameInputs(now=12.0, wall_time=WALL)).max() == 0


@pytest.mark.parametrize("kind", ["wipe_left", "wipe_right", "wipe_up", "wipe_down", "dissolve"])
def test_wipes_and_dissolve_golden(kind: str) -> None:
    player = Player(ctx(seed=7), scene({"type": "solid", "color": "#ff0000"}), 0.0, WALL)
    player.set_scene(
        scene({"type": "solid", "color": "#0000ff"}),
        Transition(kind=kind, duration_ms=1000),  # type: ignore[arg-type]
        now=0.0,
        wall_time=WALL,
    )
    frame = player.render(FrameInputs(now=0.25, wall_time=WALL))
    blue = (frame == [0, 0, 255]).all(axis=2).mean()
    assert 0.15 <= blue <= 0.35, f"{kind}: {blue:.2f} of the frame is the new scene at 25%"
    assert_golden(frame, f"scene/transition_{kind}")


def test_set_scene_failure_keeps_current_scene() -> None:
    player = Player(ctx(), scene({"type": "solid", "color": "#00ff00"}), 0.0, WALL)
    with pytest.raises(NotFound):
        player.set_scene(scene({"type": "gif", "media": "x.gif"}), Transition(), 1.0, WALL)
    assert (player.render(FrameInputs(now=2.0, wall_time=WALL)) == [0, 255, 0]).all()


def test_text_finishes_after_its_loops() -> None:
    player = Player(ctx(), scene({"type": "text", "text": "Hi", "loops": 1, "speed": 100}), 0, WALL)
    assert not player.finished(0.1)
    assert player.finished(60.0)


def test_a_prepared_scene_is_swapped_in_not_built_again() -> None:
    context = ctx()
    player = Player(context, scene({"type": "solid", "color": "#000000"}), 0.0, WALL)
    red = scene({"type": "solid", "color": "#ff0000"})
    prepared = prepare(red, context, WALL)
    cut = Transition(kind="cut")
    player.set_scene(red, cut, 1.0, WALL + 1, prepared)
    assert player._current.renderer is prepared.renderer
    # built for another context (the matrix was resized meanwhile) or another scene: rebuilt
    other = prepare(red, ctx(), WALL)
    player.set_scene(red, cut, 2.0, WALL + 2, other)
    assert player._current.renderer is not other.renderer
    blue = scene({"type": "solid", "color": "#0000ff"})
    player.set_scene(blue, cut, 3.0, WALL + 3, prepare(red, context, WALL))
    frame = player.render(FrameInputs(now=3.0, wall_time=WALL + 3))
    assert tuple(frame[0, 0]) == (0, 0, 255)


def test_preparing_a_bad_scene_raises_before_anything_changes() -> None:
    with pytest.raises(NotFound):
        prepare(scene({"type": "image", "media": "gone.png"}), ctx(), WALL)
