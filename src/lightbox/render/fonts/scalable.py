"""The scalable font: Pillow's embedded Aileron Regular (``ImageFont.load_default(size)``).

Pillow >= 10.1 built with FreeType (every Pillow wheel) embeds it, so no font file is read.
Text is rendered antialiased into an ``L`` mask whose height is the font's full line
(ascent + descent), so the baseline stays put whatever the characters are.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from lightbox.render.fonts.base import FontError
from lightbox.render.frame import Mask

SCALABLE_FONT = "scalable"
MIN_SIZE = 6
MAX_SIZE = 128
DEFAULT_SIZE = 12


class ScalableFont:
    """An antialiased outline font at one pixel size."""

    kind = "scalable"

    def __init__(self, font: ImageFont.FreeTypeFont, size: int) -> None:
        self.name = SCALABLE_FONT
        self.size = size
        self._font = font
        ascent, descent = font.getmetrics()
        self.ascent = int(ascent)
        self.descent = int(descent)
        self.line_height = self.ascent + self.descent

    def _advance(self, text: str) -> float:
        return float(self._font.getlength(text))

    def render_line(self, text: str, letter_spacing: int = 0) -> Mask:
        """One line of text: ``line_height x width`` uint8, antialiased (no newlines)."""
        if not text:
            return np.zeros((self.line_height, 0), dtype=np.uint8)
        if letter_spacing:
            pieces = list(text)
            xs = [0.0]
            for ch in pieces[:-1]:
                xs.append(xs[-1] + self._advance(ch) + letter_spacing)
            advance = xs[-1] + self._advance(pieces[-1])
        else:
            pieces, xs, advance = [text], [0.0], self._advance(text)
        # Ink may stick out of the advance box (italic overhangs, combining marks).
        left = min(min(x + self._font.getbbox(p)[0] for p, x in zip(pieces, xs, strict=True)), 0.0)
        right = max(
            max(x + self._font.getbbox(p)[2] for p, x in zip(pieces, xs, strict=True)), advance
        )
        shift = -math.floor(left)
        width = max(math.ceil(right) + shift, 0)
        image = Image.new("L", (width, self.line_height), 0)
        draw = ImageDraw.Draw(image)
        for piece, x in zip(pieces, xs, strict=True):
            draw.text((x + shift, 0), piece, font=self._font, fill=255)
        return np.asarray(image, dtype=np.uint8).copy()


@lru_cache(maxsize=32)
def load_scalable_font(size: int = DEFAULT_SIZE) -> ScalableFont:
    """The scalable font at ``size`` pixels (cached)."""
    if isinstance(size, bool) or not isinstance(size, int) or not MIN_SIZE <= size <= MAX_SIZE:
        raise FontError(
            "font_size_invalid",
            f"font size {size!r} is not allowed; use an integer {MIN_SIZE}..{MAX_SIZE}",
        )
    font = ImageFont.load_default(size=size)
    if not isinstance(font, ImageFont.FreeTypeFont):
        raise FontError(
            "font_unavailable",
            f"the scalable font {SCALABLE_FONT!r} needs Pillow built with FreeType; "
            "install the Pillow wheel from PyPI or use a bitmap font",
        )
    return ScalableFont(font, size)
