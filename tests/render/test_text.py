"""Text measuring, masks and the text scene (static and scrolling), pixel-exact."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightbox.protocol.color import RGB
from lightbox.render.fonts import FONT_NAMES
from lightbox.render.frame import Layer
from lightbox.render.text import (
    TextError,
    TextOptions,
    TextRenderer,
    measure,
    render_text_mask,
)
from tests.goldens import assert_golden

RED = RGB(255, 0, 0)
BLUE = RGB(0, 0, 80)


def _composite(layer: Layer) -> np.ndarray:
    """Layer over black, for goldens of transparent layers."""
    if layer.alpha is None:
        return layer.rgb
    a = layer.alpha.astype(np.uint16)[:, :, None]
    return (layer.rgb.astype(np.uint16) * a // 255).astype(np.uint8)


# -- measuring and masks -----------------------------------------------------------------


def test_measure_bitmap() -> None:
    assert measure("Hello", "5x7") == (25, 7)
    assert measure("Hello", "5x7", letter_spacing=1) == (29, 7)
    assert measure("", "6x10") == (0, 10)
    assert measure("ab\nc", "6x10") == (12, 20)
    assert measure("ab\nc", "6x10", line_spacing=2) == (12, 22)


def test_measure_scalable_grows_with_size() -> None:
    w10, h10 = measure("Hello", "scalable", 10)
    w20, h20 = measure("Hello", "scalable", 20)
    assert w20 > w10 > 0
    assert h20 > h10 > 0


def test_mask_is_cached_and_read_only() -> None:
    a = render_text_mask("cache me", "6x10")
    b = render_text_mask("cache me", "6x10")
    assert a is b
    assert not a.flags.writeable


def test_letter_spacing_inserts_blank_columns() -> None:
    plain = render_text_mask("AB", "5x7")
    spaced = render_text_mask("AB", "5x7", letter_spacing=2)
    assert np.array_equal(spaced[:, :5], plain[:, :5])
    assert not spaced[:, 5:7].any()
    assert np.array_equal(spaced[:, 7:], plain[:, 5:])


def test_multiline_alignment() -> None:
    one = render_text_mask("a", "5x7")
    three = render_text_mask("bbb", "5x7")
    left = render_text_mask("a\nbbb", "5x7", align="left")
    right = render_text_mask("a\nbbb", "5x7", align="right")
    center = render_text_mask("a\nbbb", "5x7", align="center")
    assert left.shape == (14, 15)
    assert np.array_equal(left[:7, :5], one)
    assert np.array_equal(right[:7, 10:], one)
    assert np.array_equal(center[:7, 5:10], one)
    for mask in (left, right, center):
        assert np.array_equal(mask[7:], three)


def test_control_characters_and_combining_marks() -> None:
    # "e" + COMBINING ACUTE is normalised to the precomposed "é".
    assert np.array_equal(render_text_mask("e\u0301", "6x10"), render_text_mask("é", "6x10"))
    # Tabs are spaces; other control characters are the replacement glyph.
    assert np.array_equal(render_text_mask("a\tb", "6x10"), render_text_mask("a b", "6x10"))
    assert np.array_equal(render_text_mask("a\x00b", "6x10"), render_text_mask("a\ufffdb", "6x10"))


def test_bad_text_options() -> None:
    with pytest.raises(TextError) as err:
        render_text_mask("x" * 5000)
    assert err.value.code == "text_too_long"
    with pytest.raises(TextError) as err:
        render_text_mask("x", letter_spacing=-1)
    assert err.value.code == "text_invalid_option"
    for options in (
        TextOptions(text="x", mode="bounce"),  # type: ignore[arg-type]
        TextOptions(text="x", speed=0),
        TextOptions(text="x", speed=float("nan")),
        TextOptions(text="x", direction="sideways"),  # type: ignore[arg-type]
        TextOptions(text="x", loops=-1),
        TextOptions(text="x", gap=-3),
        TextOptions(text="x", color=RGB(300, 0, 0)),
    ):
        with pytest.raises(TextError) as err:
            TextRenderer(32, 16, options)
        assert err.value.code == "text_invalid_option"


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=40), font=st.sampled_from(FONT_NAMES))
def test_any_unicode_renders(text: str, font: str) -> None:
    mask = render_text_mask(text, font)
    assert mask.dtype == np.uint8
    assert mask.ndim == 2
    layer = TextRenderer(16, 8, TextOptions(text=text, font=font, mode="scroll")).render(0.7)
    assert layer.rgb.shape == (8, 16, 3)


# -- static scenes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("align", "valign"),
    [("left", "top"), ("center", "middle"), ("right", "bottom")],
)
def test_static_alignment_golden(align: str, valign: str) -> None:
    r = TextRenderer(
        32,
        16,
        TextOptions(text="Hi!", font="5x7", mode="static", align=align, valign=valign, color=RED),  # type: ignore[arg-type]
    )
    layer = r.render(0.0)
    assert layer.alpha is not None
    text = render_text_mask("Hi!", "5x7")
    x = {"left": 0, "center": (32 - 15) // 2, "right": 32 - 15}[align]
    y = {"top": 0, "middle": (16 - 7) // 2, "bottom": 16 - 7}[valign]
    expected = np.zeros((16, 32), np.uint8)
    expected[y : y + 7, x : x + 15] = text
    assert np.array_equal(layer.alpha, expected)
    assert_golden(_composite(layer), f"text/static_{align}_{valign}")


def test_static_multiline_golden() -> None:
    r = TextRenderer(
        40, 24, TextOptions(text="Hello\nÄÖÜ ß", font="6x10", mode="static", line_spacing=1)
    )
    assert_golden(_composite(r.render(0)), "text/static_multiline")


def test_static_text_is_cropped_not_crashing() -> None:
    r = TextRenderer(8, 4, TextOptions(text="much too long", font="8x16", mode="static"))
    assert r.render(0).rgb.shape == (4, 8, 3)
    assert r.duration() is None
    assert not r.finished(1e9)


def test_background_vs_transparent() -> None:
    opaque = TextRenderer(
        20, 8, TextOptions(text="A", font="5x7", mode="static", color=RED, background=BLUE)
    )
    layer = opaque.render(0)
    assert layer.alpha is None
    colors = {tuple(c) for c in layer.rgb.reshape(-1, 3).tolist()}
    assert colors == {(255, 0, 0), (0, 0, 80)}
    assert_golden(layer.rgb, "text/background")

    clear = TextRenderer(20, 8, TextOptions(text="A", font="5x7", mode="static", color=RED)).render(
        0
    )
    assert clear.alpha is not None
    assert (clear.rgb == np.array(RED, np.uint8)).all()
    assert np.array_equal(clear.alpha > 0, (layer.rgb == np.array(RED, np.uint8)).all(axis=2))


def test_render_returns_owned_arrays() -> None:
    r = TextRenderer(20, 8, TextOptions(text="A", font="5x7", mode="static"))
    first = r.render(0)
    first.rgb[...] = 7
    assert first.alpha is not None
    first.alpha[...] = 7
    again = r.render(0)
    assert again.alpha is not None
    assert again.alpha.max() == 255
    assert again.rgb.max() == 255


# -- scrolling -----------------------------------------------------------------------------


def _scroller(direction: str = "left", **kw: object) -> TextRenderer:
    opts = {"text": "Hi", "font": "5x7", "mode": "scroll", "speed": 10.0, "valign": "top"}
    opts.update(kw)
    return TextRenderer(16, 8, TextOptions(direction=direction, **opts))  # type: ignore[arg-type]


def test_scroll_position_is_floor_of_speed_times_t() -> None:
    r = _scroller()
    text = render_text_mask("Hi", "5x7")  # 7 x 10
    assert r.offset(0.55) == 5
    assert r.offset(0.3) == 3  # 10 * 0.3 is 2.9999999999999996 in floats
    assert not r.mask(0.0).any()  # starts just off the right edge
    at = r.mask(0.55)
    assert np.array_equal(at[:7, 11:], text[:, :5])
    assert not at[:, :11].any()
    at = r.mask(1.6)  # 16 px: flush with the left edge
    assert np.array_equal(at[:7, :10], text)
    assert_golden(_composite(r.render(0.55)), "text/scroll_left_t0.55")
    assert_golden(_composite(r.render(1.3)), "text/scroll_left_t1.30")


def test_scroll_is_smooth_one_pixel_steps() -> None:
    r = _scroller()
    text = render_text_mask("Hi", "5x7")
    for px in range(27):
        expected = np.zeros((8, 16), np.uint8)
        x = 16 - px  # the text's left edge
        lo, hi = max(x, 0), min(x + 10, 16)
        if hi > lo:
            expected[:7, lo:hi] = text[:, lo - x : hi - x]
        assert np.array_equal(r.mask(px / 10 + 0.05), expected), px


def test_scroll_right_up_down() -> None:
    text = render_text_mask("Hi", "5x7")
    right = _scroller("right").mask(0.5)  # 5 px in from the left edge
    assert np.array_equal(right[:7, :5], text[:, 5:])
    assert not right[:, 5:].any()

    r_up = TextRenderer(
        16,
        8,
        TextOptions(text="Hi", font="5x7", mode="scroll", speed=10.0, direction="up", align="left"),
    )
    up = r_up.mask(0.3)  # 3 rows in from the bottom
    assert np.array_equal(up[5:, :10], text[:3])
    r_down = TextRenderer(
        16,
        8,
        TextOptions(
            text="Hi", font="5x7", mode="scroll", speed=10.0, direction="down", align="left"
        ),
    )
    down = r_down.mask(0.3)
    assert np.array_equal(down[:3, :10], text[4:])
    assert_golden(_composite(r_up.render(0.6)), "text/scroll_up_t0.60")


def test_long_text_scrolls_through_and_wraps_with_gap() -> None:
    r = TextRenderer(
        16,
        8,
        TextOptions(text="A long line", font="5x7", mode="scroll", speed=20, gap=4, valign="top"),
    )
    text = render_text_mask("A long line", "5x7")  # 55 px wide
    period = 55 + 4
    assert r.duration() == pytest.approx((16 + 55) / 20)
    # Offset 16 + 20: the text has moved 20 px past the left edge.
    at = r.mask(36 / 20)
    assert np.array_equal(at[:7], text[:, 20:36])
    # Periodic with the period: text + gap.
    for px in (30, 57, 71, 100):
        assert np.array_equal(r.mask(px / 20), r.mask((px + period) / 20))
    # At offset 16 + 55 the first copy's end is at column 0, the gap follows, then copy 2.
    at = r.mask((16 + 55) / 20)
    assert not at[:, :4].any()
    assert np.array_equal(at[:7, 4:16], text[:, :12])


def test_loops_and_finished() -> None:
    r = _scroller(loops=2)  # text 10 px, canvas 16, gap 16 -> period 26
    assert r.duration() == pytest.approx(2.6)
    total = r.total_duration()
    assert total == pytest.approx((26 + 16 + 10) / 10)
    assert not r.finished(total - 0.11)
    assert r.finished(total)
    assert r.mask(total - 0.11).any()
    assert not r.mask(total).any()
    assert not r.mask(total + 50).any()  # no third copy
    forever = _scroller()
    assert forever.total_duration() is None
    assert not forever.finished(1e6)
    assert forever.mask(26 * 40 / 10 + 1.0).any()


def test_horizontal_scroll_joins_lines() -> None:
    r = _scroller(text="a\nb")
    assert np.array_equal(r._mask, render_text_mask("a b", "5x7"))
