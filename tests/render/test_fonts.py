"""Fonts: names, metadata, coverage, crisp bitmaps, the scalable font and golden samples."""

from __future__ import annotations

from typing import get_args

import numpy as np
import pytest

from lightbox.protocol import fonts as protocol_fonts
from lightbox.render.fonts import (
    BITMAP_FONTS,
    FONT_NAMES,
    SCALABLE_FONT,
    BitmapFont,
    FontError,
    ScalableFont,
    font_info,
    load_font,
)
from lightbox.render.text import render_text_mask
from tests.goldens import assert_golden

LATIN1 = [chr(c) for c in [*range(0x20, 0x7F), *range(0xA0, 0x100)]]
SAMPLE = "Hello ÄÖÜ ñ ß é © 1°"


def test_names_are_the_wire_contract() -> None:
    assert FONT_NAMES == ("5x7", "6x10", "8x16", "scalable")
    assert FONT_NAMES == protocol_fonts.FONT_NAMES
    assert set(FONT_NAMES) == set(get_args(protocol_fonts.FontName))
    assert SCALABLE_FONT == "scalable"


def test_font_info_lists_every_font_in_order() -> None:
    infos = font_info()
    assert tuple(i.name for i in infos) == FONT_NAMES
    for info in infos[:-1]:
        assert info.kind == "bitmap"
        w, h = (int(v) for v in info.name.split("x"))
        assert (info.cell_width, info.line_height) == (w, h)
        assert info.ascent + info.descent == h
        assert info.coverage.startswith("Latin-1")
        assert info.licence == ("BSD-2-Clause" if info.name == "8x16" else "public domain")
    sans = infos[-1]
    assert sans.kind == "scalable"
    assert sans.cell_width is None
    assert sans.sizes == (6, 128)
    assert sans.default_size == 12
    assert sans.line_height > 0


@pytest.mark.parametrize("name", BITMAP_FONTS)
def test_bitmap_font_covers_latin1(name: str) -> None:
    font = load_font(name)
    assert isinstance(font, BitmapFont)
    missing = [c for c in LATIN1 if not font.has_glyph(c)]
    assert missing == []


@pytest.mark.parametrize("name", BITMAP_FONTS)
def test_bitmap_masks_are_crisp(name: str) -> None:
    mask = render_text_mask(SAMPLE, name)
    font = load_font(name)
    assert isinstance(font, BitmapFont)
    assert mask.shape == (font.cell_height, len(SAMPLE) * font.cell_width)
    assert set(np.unique(mask).tolist()) == {0, 255}


@pytest.mark.parametrize("name", BITMAP_FONTS)
def test_bitmap_font_golden(name: str) -> None:
    mask = render_text_mask(f"{SAMPLE}\nThe quick brown fox", name)
    assert_golden(np.repeat(mask[:, :, None], 3, axis=2), f"fonts/{name}")


def test_missing_glyph_draws_replacement_not_crash() -> None:
    font = load_font("6x10")
    assert isinstance(font, BitmapFont)
    assert not font.has_glyph("\U0001f600")
    emoji = font.render_line("\U0001f600")
    replacement = font.render_line("\ufffd")
    assert np.array_equal(emoji, replacement)
    assert emoji.any()


def test_unknown_font_and_bad_sizes_are_refused() -> None:
    with pytest.raises(FontError) as err:
        load_font("comic-sans")
    assert err.value.code == "font_unknown"
    assert "6x10" in str(err.value)
    with pytest.raises(FontError) as err:
        load_font("6x10", 12)
    assert err.value.code == "font_size_invalid"
    for size in (5, 129, 0, -5):
        with pytest.raises(FontError) as err:
            load_font("scalable", size)
        assert err.value.code == "font_size_invalid"


def test_scalable_font_is_antialiased_and_sized() -> None:
    small = load_font("scalable", 10)
    big = load_font("scalable", 24)
    assert isinstance(small, ScalableFont)
    assert isinstance(big, ScalableFont)
    assert big.line_height > small.line_height
    mask = render_text_mask("Hello ÄÖÜ", "scalable", 16)
    assert mask.shape[0] == load_font("scalable", 16).line_height
    values = np.unique(mask)
    assert values[0] == 0
    assert ((values > 0) & (values < 255)).any(), "scalable text should be antialiased"
    assert render_text_mask("Hello", "scalable").shape[0] == load_font("scalable").line_height
