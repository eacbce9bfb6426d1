"""Text: measuring, rendering to masks, and the text scene (static or scrolling).

Pure: fonts come from the package's own data, time is passed in as ``t`` (seconds since the
scene started). Scrolling is pixel-exact: at time ``t`` the text has moved
``floor(speed * t)`` pixels.

Scrolling model (direction ``left``; the others are mirrors or transposes of it): the text
strip is repeated every ``period = strip length + gap`` pixels. Copy 0 starts just outside
the canvas on the right edge, so the first frame is empty and the text enters from the
right; copy ``k`` follows ``k * period`` pixels behind. With the default gap (the canvas
length along the scroll axis) the next copy enters just as the previous one leaves. With
``loops = N`` only copies ``0..N-1`` are drawn and the scene is finished once the last one
has left the canvas.

Errors: :class:`TextError` (a ``ValueError``) with a stable ``code``, and
:class:`~lightbox.render.fonts.FontError` for font names and sizes.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
import numpy.typing as npt

from lightbox.protocol.color import RGB, WHITE
from lightbox.render.fonts import DEFAULT_FONT, load_font
from lightbox.render.frame import Layer, Mask

__all__ = [
    "MAX_TEXT_LENGTH",
    "MAX_TEXT_PIXELS",
    "TextError",
    "TextOptions",
    "TextRenderer",
    "measure",
    "render_text_mask",
]

Align = Literal["left", "center", "right"]
VAlign = Literal["top", "middle", "bottom"]
Mode = Literal["static", "scroll"]
Direction = Literal["left", "right", "up", "down"]

MAX_TEXT_LENGTH = 4096
"""Most characters a text may have."""
MAX_TEXT_PIXELS = 1 << 24
"""Largest rendered text mask (width x height)."""
MAX_SPACING = 64

_REPLACEMENT = "\ufffd"
_SPEED_EPSILON = 1e-9  # so that speed * t landing a hair below an integer still counts


class TextError(ValueError):
    """Text that cannot be rendered as asked.

    ``code``: ``text_too_long`` (too many characters or pixels) or ``text_invalid_option``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _clean_line(line: str) -> str:
    """NFC-normalise; tabs become spaces; other control characters and lone surrogates
    become U+FFFD (drawn as the font's replacement glyph)."""
    line = unicodedata.normalize("NFC", line.replace("\r", "").replace("\t", " "))
    if line.isprintable():
        return line
    return "".join(
        _REPLACEMENT if unicodedata.category(c) in ("Cc", "Cs", "Co") else c for c in line
    )


def _check_spacing(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SPACING:
        raise TextError("text_invalid_option", f"{name} must be an integer 0..{MAX_SPACING}")


def _place(n_src: int, n_dst: int, where: str) -> tuple[int, int, int]:
    """Place ``n_src`` pixels in ``n_dst`` at ``start``/``center``/``end``, cropping.

    Returns ``(dst_start, src_start, length)``.
    """
    if where == "start":
        offset = 0
    elif where == "center":
        offset = (n_dst - n_src) // 2
    else:
        offset = n_dst - n_src
    if offset >= 0:
        return offset, 0, min(n_src, n_dst - offset)
    return 0, -offset, min(n_src + offset, n_dst)


_H = {"left": "start", "center": "center", "right": "end"}
_V = {"top": "start", "middle": "center", "bottom": "end"}


@lru_cache(maxsize=256)
def _render_cached(
    text: str, font: str, size: int | None, letter_spacing: int, line_spacing: int, align: str
) -> Mask:
    face = load_font(font, size)
    lines = [face.render_line(_clean_line(line), letter_spacing) for line in text.split("\n")]
    width = max(line.shape[1] for line in lines)
    step = face.line_height + line_spacing
    height = step * len(lines) - line_spacing
    if width * height > MAX_TEXT_PIXELS:
        raise TextError(
            "text_too_long",
            f"text would be {width}x{height} pixels, over {MAX_TEXT_PIXELS}; "
            "shorten it or use a smaller font",
        )
    if len(lines) == 1:
        mask = lines[0]
    else:
        mask = np.zeros((height, width), dtype=np.uint8)
        for i, line in enumerate(lines):
            x, _, w = _place(line.shape[1], width, _H[align])
            mask[i * step : i * step + face.line_height, x : x + w] = line
    mask.setflags(write=False)
    return mask


def render_text_mask(
    text: str,
    font: str = DEFAULT_FONT,
    size: int | None = None,
    *,
    letter_spacing: int = 0,
    line_spacing: int = 0,
    align: Align = "left",
) -> Mask:
    """Render ``text`` to an ``H x W`` uint8 mask (255 = ink), cached.

    Bitmap fonts give crisp 0/255 masks; the scalable font is antialiased. ``'\\n'`` starts
    a new line; lines are aligned within the block by ``align``. The mask is exactly the
    text block: ``H`` is ``lines * line_height + (lines - 1) * line_spacing``. Characters a
    font lacks are drawn as its replacement glyph. The result is read-only (it is shared
    through the cache); copy it to modify it.
    """
    if not isinstance(text, str):
        raise TextError("text_invalid_option", f"text must be a string, not {type(text).__name__}")
    if len(text) > MAX_TEXT_LENGTH:
        raise TextError(
            "text_too_long", f"text has {len(text)} characters; at most {MAX_TEXT_LENGTH} allowed"
        )
    _check_spacing("letter_spacing", letter_spacing)
    _check_spacing("line_spacing", line_spacing)
    if align not in _H:
        raise TextError("text_invalid_option", f"align must be one of {tuple(_H)}")
    return _render_cached(text, font, size, letter_spacing, line_spacing, align)


def measure(
    text: str,
    font: str = DEFAULT_FONT,
    size: int | None = None,
    *,
    letter_spacing: int = 0,
    line_spacing: int = 0,
) -> tuple[int, int]:
    """``(width, height)`` in pixels of ``text`` as :func:`render_text_mask` draws it."""
    mask = render_text_mask(
        text, font, size, letter_spacing=letter_spacing, line_spacing=line_spacing
    )
    return int(mask.shape[1]), int(mask.shape[0])


@dataclass(frozen=True, slots=True)
class TextOptions:
    """Everything a text scene is made of (validated by :class:`TextRenderer`).

    Fields and defaults mirror ``lightbox.protocol.scenes.TextScene``.
    ``background=None`` gives a transparent layer (alpha = text mask). ``speed`` is in
    pixels per second. ``gap`` is the blank space between repeats while scrolling; ``None``
    means the canvas length along the scroll axis (exactly one copy on screen at a time).
    ``loops=0`` scrolls forever. ``align``/``valign`` place static text, the cross axis of
    scrolling text, and the lines of a multi-line block.
    """

    text: str = ""
    font: str = DEFAULT_FONT
    size: int | None = None
    color: RGB = WHITE
    background: RGB | None = None
    mode: Mode = "scroll"
    speed: float = 20.0
    direction: Direction = "left"
    align: Align = "center"
    valign: VAlign = "middle"
    gap: int | None = 16
    letter_spacing: int = 0
    line_spacing: int = 0
    loops: int = 0


def _invalid(message: str) -> TextError:
    return TextError("text_invalid_option", message)


def _scroll_indices(
    n_dst: int, n_src: int, period: int, offset: int, copies: int
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Which destination pixels show which strip pixels, scrolling towards index 0.

    Copy ``k`` of the strip starts at ``n_dst - offset + k * period``; ``copies = 0`` means
    unlimited copies.
    """
    s = np.arange(n_dst, dtype=np.int64) - (n_dst - offset)
    k = np.floor_divide(s, period)
    u = s - k * period
    valid = (k >= 0) & (u < n_src)
    if copies:
        valid &= k < copies
    return np.flatnonzero(valid), u[valid].astype(np.intp)


class TextRenderer:
    """The text scene for one canvas: ``render(t)`` gives the layer at ``t`` seconds."""

    def __init__(self, width: int, height: int, options: TextOptions) -> None:
        if not (1 <= width <= 4096 and 1 <= height <= 4096):
            raise _invalid("canvas width and height must be 1..4096")
        o = options
        if o.mode not in ("static", "scroll"):
            raise _invalid("mode must be 'static' or 'scroll'")
        if o.direction not in ("left", "right", "up", "down"):
            raise _invalid("direction must be 'left', 'right', 'up' or 'down'")
        if o.valign not in _V:
            raise _invalid(f"valign must be one of {tuple(_V)}")
        speed = float(o.speed)
        if not (math.isfinite(speed) and 0 < speed <= 10_000):
            raise _invalid("speed must be more than 0 and at most 10000 pixels per second")
        if (
            isinstance(o.loops, bool)
            or not isinstance(o.loops, int)
            or not 0 <= o.loops <= 1_000_000
        ):
            raise _invalid("loops must be an integer >= 0 (0 = forever)")
        if o.gap is not None and (
            isinstance(o.gap, bool) or not isinstance(o.gap, int) or not 0 <= o.gap <= 4096
        ):
            raise _invalid("gap must be an integer 0..4096 pixels, or omitted")
        for name, value in (("color", o.color), ("background", o.background)):
            if value is not None and (
                len(value) != 3 or not all(isinstance(c, int) and 0 <= c <= 255 for c in value)
            ):
                raise _invalid(f"{name} must be three integers 0..255")

        self.width = width
        self.height = height
        self.options = o
        self._speed = speed
        self._horizontal = o.direction in ("left", "right")
        text = o.text
        if o.mode == "scroll" and self._horizontal:
            text = text.replace("\r\n", " ").replace("\n", " ")
        self._mask = render_text_mask(
            text,
            o.font,
            o.size,
            letter_spacing=o.letter_spacing,
            line_spacing=o.line_spacing,
            align=o.align,
        )
        # Main axis = the scroll axis (axis 1 of the working strip).
        self._strip: Mask = self._mask if self._horizontal else self._mask.T
        if o.direction in ("right", "down"):
            self._strip = self._strip[:, ::-1]
        self._n_main = width if self._horizontal else height
        self._n_cross = height if self._horizontal else width
        self._cross_where = _V[o.valign] if self._horizontal else _H[o.align]
        self._gap = self._n_main if o.gap is None else o.gap
        self._strip_len = int(self._strip.shape[1])
        self._period = max(self._strip_len + self._gap, 1)

        # Colour lookup: mask value -> RGB, blending over the background if there is one.
        color = np.array(o.color, dtype=np.float64)
        base = np.array(o.background if o.background is not None else o.color, dtype=np.float64)
        a = np.arange(256, dtype=np.float64)[:, None] / 255.0
        self._lut = np.rint(base + (color - base) * a).astype(np.uint8)  # 256 x 3
        self._static: Layer | None = None
        if o.mode == "static":
            self._static = self._layer(self._place_static())

    # -- timing ------------------------------------------------------------------------
    def offset(self, t: float) -> int:
        """Pixels scrolled at ``t`` seconds: ``floor(speed * t)`` (0 before ``t = 0``)."""
        if math.isnan(t) or t <= 0:
            return 0
        if math.isinf(t):
            return 1 << 62
        return min(math.floor(self._speed * t + _SPEED_EPSILON), 1 << 62)

    def duration(self) -> float | None:
        """Seconds for one pass (one copy from entering to having left); ``None`` if static."""
        if self.options.mode == "static":
            return None
        return (self._n_main + self._strip_len) / self._speed

    def total_duration(self) -> float | None:
        """Seconds until every loop has passed; ``None`` if static or looping forever."""
        if self.options.mode == "static" or self.options.loops == 0:
            return None
        distance = (self.options.loops - 1) * self._period + self._n_main + self._strip_len
        return distance / self._speed

    def finished(self, t: float) -> bool:
        """Whether a scrolling text with a finite loop count has fully passed at ``t``."""
        if self.options.mode == "static" or self.options.loops == 0:
            return False
        distance = (self.options.loops - 1) * self._period + self._n_main + self._strip_len
        return self.offset(t) >= distance

    # -- rendering -----------------------------------------------------------------------
    def _place_static(self) -> Mask:
        out = np.zeros((self.height, self.width), dtype=np.uint8)
        mh, mw = self._mask.shape
        y, sy, h = _place(mh, self.height, _V[self.options.valign])
        x, sx, w = _place(mw, self.width, _H[self.options.align])
        if h > 0 and w > 0:
            out[y : y + h, x : x + w] = self._mask[sy : sy + h, sx : sx + w]
        return out

    def _place_scroll(self, offset: int) -> Mask:
        strip = self._strip
        out = np.zeros((self._n_cross, self._n_main), dtype=np.uint8)
        c, sc, n = _place(strip.shape[0], self._n_cross, self._cross_where)
        if n > 0 and strip.shape[1] > 0:
            dst, src = _scroll_indices(
                self._n_main, strip.shape[1], self._period, offset, self.options.loops
            )
            if len(dst):
                out[c : c + n, dst] = strip[sc : sc + n][:, src]
        if self.options.direction in ("right", "down"):
            out = out[:, ::-1]
        return np.ascontiguousarray(out if self._horizontal else out.T)

    def _layer(self, mask: Mask) -> Layer:
        rgb = self._lut[mask]
        if self.options.background is not None:
            return Layer(rgb=rgb, alpha=None)
        return Layer(rgb=rgb, alpha=mask)

    def mask(self, t: float) -> Mask:
        """The text coverage (``H x W`` uint8) at ``t`` seconds."""
        if self._static is not None:
            return self._place_static()
        return self._place_scroll(self.offset(t))

    def render(self, t: float) -> Layer:
        """The layer at ``t`` seconds: new arrays, owned by the caller."""
        if self._static is not None:
            alpha = self._static.alpha
            return Layer(rgb=self._static.rgb.copy(), alpha=None if alpha is None else alpha.copy())
        return self._layer(self._place_scroll(self.offset(t)))
