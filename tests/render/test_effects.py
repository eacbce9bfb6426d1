"""The built-in effects and palettes: catalogue agreement, golden frames, sizes,
determinism and what speed / intensity / params do."""

from __future__ import annotations

import numpy as np
import pytest

from lightbox.protocol.catalog import EFFECTS, PALETTES, effect_info
from lightbox.protocol.color import RGB
from lightbox.render.effects import EFFECT_CLASSES, EffectParams, create_effect, effect_names
from lightbox.render.palettes import PALETTE_NAMES, palette_lut
from tests.goldens import assert_golden

NAMES = [info.name for info in EFFECTS]
GOLDEN_W, GOLDEN_H = 32, 16
GOLDEN_TIMES = (0.0, 0.5, 3.0)
FPS = 30


def run(effect_name: str, times: list[float], width: int = 32, height: int = 16, **kw: object):
    seed = int(kw.pop("seed", 0))  # type: ignore[call-overload]
    effect = create_effect(effect_name, width, height, EffectParams(**kw), seed=seed)  # type: ignore[arg-type]
    return [effect.render(t) for t in times]


def timeline(until: float, fps: int = FPS) -> list[float]:
    return [i / fps for i in range(int(until * fps) + 1)]


# --- catalogue ------------------------------------------------------------------------


def test_catalogue_and_classes_agree() -> None:
    assert set(NAMES) == set(EFFECT_CLASSES)
    assert list(EFFECT_CLASSES) == NAMES == effect_names()
    assert len(NAMES) >= 22
    assert len(set(NAMES)) == len(NAMES)
    for name, cls in EFFECT_CLASSES.items():
        assert cls.info is effect_info(name)


def test_param_defaults_within_range() -> None:
    for info in EFFECTS:
        for spec in info.params:
            if spec.type in ("int", "float"):
                assert isinstance(spec.default, int | float)
                assert not isinstance(spec.default, bool)
                assert spec.minimum is not None, spec.name
                assert spec.maximum is not None, spec.name
                assert spec.minimum <= spec.default <= spec.maximum, (info.name, spec.name)
            elif spec.type == "bool":
                assert isinstance(spec.default, bool)
            else:
                assert spec.choices, (info.name, spec.name)
                assert spec.default in spec.choices, (info.name, spec.name)


def test_default_palettes_exist_and_flags_are_consistent() -> None:
    palette_names = {p.name for p in PALETTES}
    for info in EFFECTS:
        assert info.uses_palette == (info.default_palette is not None), info.name
        if info.default_palette is not None:
            assert info.default_palette in palette_names
        assert "Speed:" in info.description or not info.uses_speed
        assert "Intensity:" in info.description or not info.uses_intensity


def test_unknown_effect_is_a_clear_key_error() -> None:
    with pytest.raises(KeyError, match=r"unknown effect 'nope'.*plasma"):
        create_effect("nope", 8, 8)
    with pytest.raises(KeyError, match="unknown effect"):
        effect_info("nope")


# --- palettes -------------------------------------------------------------------------


def test_palette_names_match_catalogue() -> None:
    assert tuple(p.name for p in PALETTES) == PALETTE_NAMES
    assert len(PALETTE_NAMES) >= 10


def test_palettes_are_distinct_256x3_uint8() -> None:
    luts = [palette_lut(name) for name in PALETTE_NAMES]
    for name, lut in zip(PALETTE_NAMES, luts, strict=True):
        assert lut.shape == (256, 3), name
        assert lut.dtype == np.uint8, name
        assert not lut.flags.writeable, name
        assert len(np.unique(lut, axis=0)) > 16, name  # a real gradient
    for i in range(len(luts)):
        for j in range(i + 1, len(luts)):
            assert not np.array_equal(luts[i], luts[j]), (PALETTE_NAMES[i], PALETTE_NAMES[j])


def test_palette_stops_are_hit_and_ramps_are_ramps() -> None:
    rainbow = palette_lut("rainbow")
    assert tuple(rainbow[0]) == (255, 0, 0)
    assert tuple(rainbow[255]) == (255, 0, 0)
    heat = palette_lut("heat").astype(int).sum(axis=1)
    assert heat[0] == 0
    assert heat[255] == 765
    assert np.all(np.diff(heat) >= 0)


def test_colors_palette_follows_scene_colours() -> None:
    red, blue = RGB(255, 0, 0), RGB(0, 0, 255)
    solid = palette_lut("colors", [red])
    assert np.all(solid == (255, 0, 0))
    two = palette_lut("colors", [red, blue])
    assert tuple(two[0]) == (255, 0, 0)
    assert tuple(two[128]) == (0, 0, 255)
    assert tuple(two[255]) == (255, 0, 0)  # cyclic
    assert palette_lut("colors").shape == (256, 3)  # defaults without colours


def test_unknown_palette_is_a_clear_key_error() -> None:
    with pytest.raises(KeyError, match="unknown palette 'nope'"):
        palette_lut("nope")


# --- every effect ---------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_golden_frames(name: str) -> None:
    # Render a 30 fps timeline so stateful effects advance as they would live.
    times = timeline(GOLDEN_TIMES[-1])
    effect = create_effect(name, GOLDEN_W, GOLDEN_H, EffectParams(), seed=7)
    frames = {round(t, 3): effect.render(t) for t in times}
    for t in GOLDEN_TIMES:
        assert_golden(frames[t], f"effects/{name}_{t:g}s".replace(".", "_"))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(("width", "height"), [(1, 1), (7, 3), (3, 7), (64, 32), (2, 40)])
def test_any_size(name: str, width: int, height: int) -> None:
    effect = create_effect(name, width, height, EffectParams(speed=255, intensity=255))
    for t in (0.0, 0.05, 0.1, 0.9, 2.0):
        frame = effect.render(t)
        assert frame.shape == (height, width, 3)
        assert frame.dtype == np.uint8


@pytest.mark.parametrize("name", NAMES)
def test_extreme_parameters(name: str) -> None:
    for speed, intensity in ((0, 0), (255, 255), (0, 255), (255, 0)):
        frames = run(name, [0.0, 0.3, 1.0], speed=speed, intensity=intensity)
        assert all(f.shape == (16, 32, 3) for f in frames)


@pytest.mark.parametrize("name", NAMES)
def test_deterministic(name: str) -> None:
    times = [0.0, 0.02, 0.07, 0.2, 0.21, 0.5, 1.3]
    a = run(name, times, seed=3)
    b = run(name, times, seed=3)
    for fa, fb in zip(a, b, strict=True):
        assert np.array_equal(fa, fb)


@pytest.mark.parametrize("name", NAMES)
def test_animates_and_shows_something(name: str) -> None:
    frames = run(name, timeline(2.0), width=24, height=24)
    assert any(f.any() for f in frames), "only black frames"
    assert not np.array_equal(frames[0], frames[-1]), "no animation over 2 s"


@pytest.mark.parametrize("name", [n for n in NAMES if effect_info(n).uses_speed])
def test_speed_changes_the_animation(name: str) -> None:
    times = timeline(1.0)
    slow = run(name, times, speed=30)
    fast = run(name, times, speed=230)
    assert not np.array_equal(slow[-1], fast[-1])


@pytest.mark.parametrize("name", [n for n in NAMES if effect_info(n).uses_intensity])
def test_intensity_changes_the_picture(name: str) -> None:
    times = timeline(1.0)
    low = run(name, times, intensity=20)
    high = run(name, times, intensity=235)
    assert not np.array_equal(low[-1], high[-1])


@pytest.mark.parametrize("name", [n for n in NAMES if effect_info(n).uses_palette])
def test_palette_changes_the_colours(name: str) -> None:
    times = timeline(1.0)
    a = run(
        name, times, palette="ocean" if effect_info(name).default_palette != "ocean" else "lava"
    )
    b = run(name, times)
    assert not np.array_equal(a[-1], b[-1])


@pytest.mark.parametrize("name", [n for n in NAMES if effect_info(n).uses_colors])
def test_colours_change_the_colours(name: str) -> None:
    times = timeline(1.0)
    custom = (RGB(10, 200, 30), RGB(200, 10, 200), RGB(250, 250, 0))
    a = run(name, times, colors=custom)
    b = run(name, times)
    assert not np.array_equal(a[-1], b[-1])


@pytest.mark.parametrize("name", ["fire", "life", "bouncing_balls", "ripples"])
def test_stateful_speed_is_fps_independent(name: str) -> None:
    # Same simulated time at 20 fps and 60 fps: the fixed-step simulations have taken the
    # same number of steps, so the final frames agree exactly. (Effects with fading trails
    # draw one trail sample per frame, so only their motion, not their trails, matches.)
    extra = {"trail": False} if name == "bouncing_balls" else {}
    slow = run(name, [i / 20 for i in range(41)], seed=5, extra=extra)[-1]
    fast = run(name, [i / 60 for i in range(121)], seed=5, extra=extra)[-1]
    assert np.array_equal(slow, fast)


def test_different_seeds_differ() -> None:
    for name in ("fire", "twinkle", "starfield", "life", "metaballs", "noise"):
        a = run(name, timeline(0.5), seed=1)[-1]
        b = run(name, timeline(0.5), seed=2)[-1]
        assert not np.array_equal(a, b), name


def test_time_going_backwards_does_not_break_state() -> None:
    for name in ("fire", "snow", "fireworks", "comet"):
        frames = run(name, [0.0, 1.0, 0.5, 1.5])
        assert all(f.shape == (16, 32, 3) for f in frames)


# --- effect-specific behaviour --------------------------------------------------------


def test_life_reseeds_when_it_goes_stale() -> None:
    effect = create_effect("life", 16, 16, EffectParams(speed=255), seed=1)
    # Kill everything: the empty grid repeats, lingers, then gets reseeded.
    effect.cells[...] = 0  # type: ignore[attr-defined]
    effect.age[...] = 0  # type: ignore[attr-defined]
    frames = [effect.render(t) for t in timeline(4.0)]
    assert any(not f.any() for f in frames[1:20]), "an empty grid should show for a moment"
    assert frames[-1].any(), "the grid was never reseeded"


def test_life_follows_conway() -> None:
    effect = create_effect("life", 8, 8, EffectParams(), seed=0)
    blinker = np.zeros((8, 8), dtype=np.uint8)
    blinker[4, 3:6] = 1
    effect.cells[...] = blinker  # type: ignore[attr-defined]
    effect._step()  # type: ignore[attr-defined]
    expected = np.zeros((8, 8), dtype=np.uint8)
    expected[3:6, 4] = 1
    assert np.array_equal(effect.cells, expected)  # type: ignore[attr-defined]


def test_clock_face_uses_wall_time() -> None:
    # 03:00:00 local: the hour hand points right, the minute hand straight up.
    extra = {"wall_time": 3 * 3600.0 - 3600.0, "utc_offset": 3600.0, "show_seconds": False}
    effect = create_effect("clock_face", 33, 33, EffectParams(extra=extra))
    frame = effect.render(0.0).astype(int)
    hour = np.array((255, 190, 80))
    minute = np.array((255, 255, 255))
    assert np.abs(frame[16, 22] - hour).max() < 40  # right of centre
    assert np.abs(frame[6, 16] - minute).max() < 40  # above centre
    assert np.abs(frame[26, 16]).max() < 60  # nothing below
    later = effect.render(15 * 60.0).astype(int)  # 03:15: minute hand points right too
    assert np.abs(later[16, 28] - minute).max() < 40


def test_clock_face_without_wall_time_starts_at_twelve() -> None:
    params = EffectParams(extra={"show_seconds": False})
    frame = create_effect("clock_face", 33, 33, params).render(0.0).astype(int)
    assert frame[8, 16].sum() > 700  # white minute hand straight up, over the hour hand
    assert frame[16, 24].sum() < 100  # nothing pointing right


def test_breathe_fills_with_the_first_colour() -> None:
    effect = create_effect("breathe", 4, 4, EffectParams(colors=(RGB(0, 0, 255),)))
    frames = [effect.render(t) for t in timeline(6.0)]
    assert all(np.all(f[..., :2] == 0) for f in frames)
    peaks = [int(f[0, 0, 2]) for f in frames]
    assert max(peaks) >= 250
    assert min(peaks) < 120


def test_gradient_directions_differ() -> None:
    results = {
        d: run("gradient", [0.0], extra={"direction": d})[0]
        for d in ("horizontal", "vertical", "diagonal", "radial")
    }
    assert np.all(results["horizontal"] == results["horizontal"][:1])  # same in every row
    assert np.all(results["vertical"] == results["vertical"][:, :1])  # same in every column
    assert not np.array_equal(results["diagonal"], results["radial"])


def test_spiral_arms_param_changes_picture() -> None:
    one = run("spiral", [0.0], extra={"arms": 1})[0]
    five = run("spiral", [0.0], extra={"arms": 5})[0]
    assert not np.array_equal(one, five)


def test_bouncing_balls_trail_param() -> None:
    trail = run("bouncing_balls", timeline(1.0), extra={"trail": True})[-1]
    plain = run("bouncing_balls", timeline(1.0), extra={"trail": False})[-1]
    assert (trail.max(axis=2) > 0).sum() > (plain.max(axis=2) > 0).sum()
