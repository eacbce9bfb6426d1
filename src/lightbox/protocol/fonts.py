"""Font names on the wire. ``lightbox.render.fonts`` provides exactly these."""

from __future__ import annotations

from typing import Literal

FontName = Literal["5x7", "6x10", "8x16", "scalable"]
FONT_NAMES: tuple[str, ...] = ("5x7", "6x10", "8x16", "scalable")
