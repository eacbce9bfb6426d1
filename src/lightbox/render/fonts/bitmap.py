"""Fixed-cell bitmap fonts, loaded from the package's own ``data/<name>.npz`` files.

The files are made once from PCF fonts (X11 misc-fixed, Spleen) by ``tools/build_fonts.py``;
each holds sorted code points, the glyph cells packed one bit per pixel, and the metrics
(cell width, cell height, ascent, descent). A line of text is rendered by gathering the
glyph cells with one numpy index and laying them side by side: no per-pixel loops.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import numpy as np
import numpy.typing as npt

from lightbox.render.fonts.base import FontError
from lightbox.render.frame import Mask

BITMAP_FONTS: tuple[str, ...] = ("5x7", "6x10", "8x16")
"""Bitmap font names, smallest first (wire-contract values)."""

REPLACEMENT = "\ufffd"


class BitmapFont:
    """A monospaced bitmap font: every glyph is a ``cell_height x cell_width`` cell."""

    kind = "bitmap"

    def __init__(
        self,
        name: str,
        codepoints: npt.NDArray[np.uint32],
        cells: npt.NDArray[np.uint8],
        ascent: int,
        descent: int,
    ) -> None:
        if cells.ndim != 3 or len(codepoints) != len(cells):
            raise ValueError(f"font {name}: {len(codepoints)} code points, cells {cells.shape}")
        self.name = name
        self.cell_height = int(cells.shape[1])
        self.cell_width = int(cells.shape[2])
        self.ascent = ascent
        self.descent = descent
        self.line_height = self.cell_height
        self._codepoints = codepoints
        # The last cell is the one drawn for a character the font lacks: the font's own
        # U+FFFD if it has one, else a hollow box.
        missing = np.zeros((1, self.cell_height, self.cell_width), dtype=np.uint8)
        where = np.searchsorted(codepoints, ord(REPLACEMENT))
        if where < len(codepoints) and codepoints[where] == ord(REPLACEMENT):
            missing[0] = cells[where]
        else:
            top, bottom = max(self.ascent - self.cell_width, 0), self.ascent - 1
            missing[0, top : bottom + 1, 0] = missing[0, top : bottom + 1, -2] = 255
            missing[0, top, : self.cell_width - 1] = missing[0, bottom, : self.cell_width - 1] = 255
        self._cells = np.concatenate([cells, missing])
        self._cells.setflags(write=False)

    @property
    def glyph_count(self) -> int:
        return len(self._codepoints)

    @property
    def codepoints(self) -> npt.NDArray[np.uint32]:
        """The code points the font draws, sorted (read-only)."""
        view = self._codepoints.view()
        view.setflags(write=False)
        return view

    def has_glyph(self, char: str) -> bool:
        if len(char) != 1:
            return False
        i = int(np.searchsorted(self._codepoints, ord(char)))
        return i < len(self._codepoints) and int(self._codepoints[i]) == ord(char)

    def glyph_indices(self, text: str) -> npt.NDArray[np.intp]:
        """The cell index of every character; missing characters get the replacement cell."""
        cps = np.fromiter((ord(c) for c in text), dtype=np.int64, count=len(text))
        n = len(self._codepoints)
        pos = np.searchsorted(self._codepoints, cps)
        clipped = np.minimum(pos, n - 1)
        found = (pos < n) & (self._codepoints[clipped] == cps)
        return np.where(found, clipped, n).astype(np.intp)

    def render_line(self, text: str, letter_spacing: int = 0) -> Mask:
        """One line of text: ``cell_height x width`` uint8, 0 or 255 (no newlines in ``text``)."""
        if letter_spacing < 0:
            raise ValueError("letter_spacing must be >= 0 for bitmap fonts")
        n = len(text)
        if n == 0:
            return np.zeros((self.cell_height, 0), dtype=np.uint8)
        glyphs = self._cells[self.glyph_indices(text)]  # n x H x W
        if letter_spacing:
            glyphs = np.pad(glyphs, ((0, 0), (0, 0), (0, letter_spacing)))
        step = self.cell_width + letter_spacing
        line = glyphs.transpose(1, 0, 2).reshape(self.cell_height, n * step)
        return np.ascontiguousarray(line[:, : n * step - letter_spacing])


@cache
def load_bitmap_font(name: str) -> BitmapFont:
    """Load a bitmap font by name (cached); :class:`FontError` ``font_unknown`` if none."""
    if name not in BITMAP_FONTS:
        raise FontError(
            "font_unknown", f"unknown bitmap font {name!r}; choose one of {BITMAP_FONTS}"
        )
    ref = resources.files("lightbox.render.fonts").joinpath("data", f"{name}.npz")
    try:
        with ref.open("rb") as fh, np.load(fh, allow_pickle=False) as data:
            codepoints = data["codepoints"].astype(np.uint32)
            width, height, ascent, descent = (int(v) for v in data["metrics"])
            bits = np.unpackbits(data["bits"], axis=-1, count=width)
    except (OSError, KeyError, ValueError) as err:
        raise FontError(
            "font_unavailable", f"font data for {name!r} is missing or damaged; reinstall LightBox"
        ) from err
    cells = (bits.reshape(len(codepoints), height, width) * np.uint8(255)).astype(np.uint8)
    return BitmapFont(name, codepoints, cells, ascent, descent)
