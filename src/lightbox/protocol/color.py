"""Colours on the wire.

A colour is accepted as ``"#rrggbb"`` (or ``"#rgb"``), as ``"rrggbb"``, or as ``[r, g, b]``
with each channel 0..255; it is always serialised as ``"#rrggbb"``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, NamedTuple

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

_HEX = re.compile(r"^#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})$")


class RGB(NamedTuple):
    """An sRGB colour, 8 bits per channel."""

    r: int
    g: int
    b: int

    def hex(self) -> str:
        return f"#{self.r:02x}{self.g:02x}{self.b:02x}"


def parse_color(value: Any) -> RGB:
    """Parse a wire colour; raise ``ValueError`` with a message saying what is allowed."""
    if isinstance(value, RGB):
        return value
    if isinstance(value, str):
        match = _HEX.match(value.strip())
        if not match:
            raise ValueError(f"colour {value!r} is not '#rrggbb', '#rgb' or [r, g, b]")
        digits = match.group(1)
        if len(digits) == 3:
            digits = "".join(c * 2 for c in digits)
        return RGB(int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))
    if isinstance(value, list | tuple) and len(value) == 3:
        channels = []
        for channel in value:
            if isinstance(channel, bool) or not isinstance(channel, int) or not 0 <= channel <= 255:
                raise ValueError(f"colour {list(value)!r}: each channel must be an integer 0..255")
            channels.append(channel)
        return RGB(*channels)
    raise ValueError(f"colour {value!r} is not '#rrggbb', '#rgb' or [r, g, b]")


Color = Annotated[
    RGB,
    BeforeValidator(parse_color),
    PlainSerializer(lambda c: c.hex(), return_type=str),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": "^#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})$"},
                {
                    "type": "array",
                    "items": {"type": "integer", "minimum": 0, "maximum": 255},
                    "minItems": 3,
                    "maxItems": 3,
                },
            ],
            "description": "An sRGB colour: '#rrggbb', '#rgb' or [r, g, b] (0..255).",
            "examples": ["#ff8800", [255, 136, 0]],
        }
    ),
]
"""A colour field; validates any accepted form to :class:`RGB`, serialises as ``#rrggbb``."""

BLACK = RGB(0, 0, 0)
WHITE = RGB(255, 255, 255)
