"""What every font shares: its description and the one error type of the fonts package.

Exception tree::

    ValueError
      FontError          code: "font_unknown" | "font_size_invalid" | "font_unavailable"
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FontKind = Literal["bitmap", "scalable"]


class FontError(ValueError):
    """A font was asked for that does not exist, at a size it cannot have, or is unavailable.

    ``code`` is a stable string for the wire: ``font_unknown``, ``font_size_invalid`` or
    ``font_unavailable``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class FontInfo:
    """One line of ``lightbox fonts``.

    For a bitmap font ``cell_width`` x ``line_height`` is its fixed glyph cell; a scalable
    font has no cell (``cell_width`` is ``None``), its ``line_height`` is that of
    ``default_size``, and any size in ``sizes`` (inclusive) may be asked for.
    """

    name: str
    kind: FontKind
    cell_width: int | None
    line_height: int
    ascent: int
    descent: int
    glyph_count: int | None
    coverage: str
    origin: str
    licence: str
    sizes: tuple[int, int] | None = None
    default_size: int | None = None
