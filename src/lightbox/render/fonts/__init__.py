"""Pixel fonts for the renderer.

Bitmap fonts, crisp at 1:1, are named by their cell size: ``5x7`` and ``6x10`` (X11
misc-fixed, public domain) and ``8x16`` (Spleen, BSD-2-Clause). The one scalable font,
``scalable`` (Aileron, embedded in Pillow), takes a pixel size. :data:`FONT_NAMES` equals
``lightbox.protocol.fonts.FONT_NAMES`` (the wire contract). See ``docs/fonts.md``.

Errors: :class:`FontError` (a ``ValueError``) with a stable ``code``.
"""

from __future__ import annotations

from lightbox.render.fonts.base import FontError, FontInfo, FontKind
from lightbox.render.fonts.bitmap import BITMAP_FONTS, BitmapFont, load_bitmap_font
from lightbox.render.fonts.scalable import (
    DEFAULT_SIZE,
    MAX_SIZE,
    MIN_SIZE,
    SCALABLE_FONT,
    ScalableFont,
    load_scalable_font,
)

__all__ = [
    "BITMAP_FONTS",
    "DEFAULT_FONT",
    "FONT_NAMES",
    "SCALABLE_FONT",
    "BitmapFont",
    "Font",
    "FontError",
    "FontInfo",
    "FontKind",
    "ScalableFont",
    "font_info",
    "load_font",
]

FONT_NAMES: tuple[str, ...] = (*BITMAP_FONTS, SCALABLE_FONT)
"""Every font name, bitmap fonts smallest first, then the scalable font."""

DEFAULT_FONT = "6x10"

Font = BitmapFont | ScalableFont

_MISC_FIXED = ("X11 misc-fixed (xorg font-misc-misc, Debian xfonts-base)", "public domain")
_SPLEEN = ("Spleen 8x16 by Frederic Cambus (Debian fonts-spleen)", "BSD-2-Clause")
_BITMAP_SOURCES = {"5x7": _MISC_FIXED, "6x10": _MISC_FIXED, "8x16": _SPLEEN}
_SCALABLE_ORIGIN = "Aileron Regular by Sora Sagano, embedded in Pillow (load_default)"
_SCALABLE_LICENCE = "CC0 1.0 (public domain)"


def load_font(name: str, size: int | None = None) -> Font:
    """The font called ``name``; ``size`` (pixels) is for the scalable font only.

    A bitmap font ignores ``size`` being ``None`` and refuses any other value, so that a
    caller cannot believe it scaled a pixel font.
    """
    if name == SCALABLE_FONT:
        return load_scalable_font(DEFAULT_SIZE if size is None else size)
    if name in BITMAP_FONTS:
        if size is not None:
            raise FontError(
                "font_size_invalid",
                f"font {name!r} is a bitmap font with a fixed size; omit size, "
                f"or use {SCALABLE_FONT!r} for a sized font",
            )
        return load_bitmap_font(name)
    raise FontError("font_unknown", f"unknown font {name!r}; choose one of {', '.join(FONT_NAMES)}")


def _coverage(font: BitmapFont) -> str:
    cps = {int(c) for c in font.codepoints}
    latin1 = set(range(0x20, 0x7F)) | set(range(0xA0, 0x100))
    parts = ["Latin-1" if latin1 <= cps else "partial Latin-1"]
    for label, lo, hi in (
        ("Latin Extended-A", 0x100, 0x17F),
        ("Greek", 0x391, 0x3C9),
        ("Cyrillic", 0x410, 0x44F),
        ("box drawing", 0x2500, 0x257F),
    ):
        if len(cps & set(range(lo, hi + 1))) > (hi - lo) * 0.9:
            parts.append(label)
    return ", ".join(parts)


def font_info() -> tuple[FontInfo, ...]:
    """Describe every font in :data:`FONT_NAMES` order (what ``lightbox fonts`` prints)."""
    infos = []
    for name in BITMAP_FONTS:
        font = load_bitmap_font(name)
        infos.append(
            FontInfo(
                name=name,
                kind="bitmap",
                cell_width=font.cell_width,
                line_height=font.line_height,
                ascent=font.ascent,
                descent=font.descent,
                glyph_count=font.glyph_count,
                coverage=_coverage(font),
                origin=_BITMAP_SOURCES[name][0],
                licence=_BITMAP_SOURCES[name][1],
            )
        )
    try:
        scalable: ScalableFont | None = load_scalable_font(DEFAULT_SIZE)
    except FontError:
        scalable = None
    infos.append(
        FontInfo(
            name=SCALABLE_FONT,
            kind="scalable",
            cell_width=None,
            line_height=scalable.line_height if scalable else 0,
            ascent=scalable.ascent if scalable else 0,
            descent=scalable.descent if scalable else 0,
            glyph_count=None,
            coverage="Latin-1 and more" if scalable else "unavailable: Pillow lacks FreeType",
            origin=_SCALABLE_ORIGIN,
            licence=_SCALABLE_LICENCE,
            sizes=(MIN_SIZE, MAX_SIZE),
            default_size=DEFAULT_SIZE,
        )
    )
    return tuple(infos)
