"""The catalogue of built-in effects and palettes: part of the wire contract.

Clients (the web app, Home Assistant, the cloud dashboard) read it to build controls; the
command model validates effect scenes against it; ``lightbox.render.effects`` implements
exactly these names (a test checks the two agree).

Every effect takes the common parameters ``speed`` and ``intensity`` (0..255, WLED's
convention), an optional ``palette`` and up to three ``colors``; ``params`` lists the extra
parameters that only this effect understands.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ParamType = Literal["int", "float", "bool", "choice"]


class ParamSpec(BaseModel):
    """One effect-specific parameter: its type, range and default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    type: ParamType
    description: str
    default: int | float | bool | str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None


class EffectInfo(BaseModel):
    """What a client needs to know to offer an effect."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    title: str
    description: str
    uses_speed: bool = True
    uses_intensity: bool = False
    uses_palette: bool = False
    uses_colors: int = Field(default=0, ge=0, le=3, description="How many of `colors` it reads.")
    default_palette: str | None = None
    params: tuple[ParamSpec, ...] = ()


class PaletteInfo(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    title: str


# Filled in by the effects work: one EffectInfo per built-in effect, in display order.
EFFECTS: tuple[EffectInfo, ...] = ()
PALETTES: tuple[PaletteInfo, ...] = ()
