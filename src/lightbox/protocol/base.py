"""Shared base for every wire model: strict about unknown fields, frozen, documented."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class WireModel(BaseModel):
    """A message shape. Unknown fields are refused so that a typo never passes silently."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        use_enum_values=True,
        validate_default=True,
        str_strip_whitespace=False,
    )
