"""Scenes: what the matrix shows.

A scene is one of the ``type``-tagged shapes below. ``layers`` stacks other scenes (say,
scrolling text over an effect), each with its opacity and blend mode. Media scenes
(``image``, ``gif``) refer to uploaded media by id; the bytes never travel inside a command.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from lightbox.protocol.base import WireModel
from lightbox.protocol.catalog import EFFECTS, PALETTES, EffectInfo, ParamSpec
from lightbox.protocol.color import BLACK, WHITE, Color
from lightbox.protocol.fonts import FontName
from lightbox.protocol.timezones import check_timezone

MediaId = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$",
        description="Id of uploaded media (letters, digits, '.', '_', '-'; at most 128).",
        examples=["sunset.gif"],
    ),
]

FitMode = Literal["contain", "cover", "fill", "center"]
"""contain: fit inside, letterboxed; cover: fill and crop; fill: stretch; center: no scaling."""

ParamValue = int | float | bool | str


class SolidScene(WireModel):
    """One colour over the whole matrix."""

    type: Literal["solid"] = "solid"
    color: Color = WHITE


class TextScene(WireModel):
    """Static or scrolling text in a pixel font (or the scalable one, at ``size`` px)."""

    type: Literal["text"] = "text"
    text: str = Field(min_length=1, max_length=1024)
    font: FontName = "6x10"
    size: int | None = Field(
        default=None, ge=6, le=128, description="Pixel height; only for the scalable font."
    )
    color: Color = WHITE
    background: Color | None = Field(default=None, description="None: transparent.")
    mode: Literal["static", "scroll"] = "scroll"
    speed: float = Field(default=20.0, ge=1.0, le=500.0, description="Scroll speed, pixels/s.")
    direction: Literal["left", "right", "up", "down"] = "left"
    align: Literal["left", "center", "right"] = "center"
    valign: Literal["top", "middle", "bottom"] = "middle"
    gap: int = Field(default=16, ge=0, le=1024, description="Pixels between repeats.")
    letter_spacing: int = Field(default=0, ge=0, le=8)
    loops: int = Field(default=0, ge=0, le=10_000, description="Scroll passes; 0: forever.")

    @model_validator(mode="after")
    def _check_size(self) -> TextScene:
        if self.size is not None and self.font != "scalable":
            raise ValueError(f"size applies only to font 'scalable', not to {self.font!r}")
        return self


class ImageScene(WireModel):
    """A still image (PNG, JPEG, WebP, GIF) from the media library."""

    type: Literal["image"] = "image"
    media: MediaId
    fit: FitMode = "contain"
    background: Color = BLACK


class GifScene(WireModel):
    """An animated GIF (or animated WebP/PNG) with its own frame timing."""

    type: Literal["gif"] = "gif"
    media: MediaId
    fit: FitMode = "contain"
    background: Color = BLACK
    loops: int | None = Field(
        default=None, ge=0, le=10_000, description="Plays; 0: forever; None: as the file says."
    )
    speed: float = Field(default=1.0, ge=0.1, le=10.0, description="Playback rate.")


class EffectScene(WireModel):
    """A built-in effect; see the effect catalogue for names and their parameters."""

    type: Literal["effect"] = "effect"
    effect: str = Field(description="Effect name from the catalogue, e.g. 'plasma'.")
    speed: int = Field(default=128, ge=0, le=255)
    intensity: int = Field(default=128, ge=0, le=255)
    palette: str | None = Field(default=None, description="Palette name; None: effect default.")
    colors: tuple[Color, ...] = Field(default=(), max_length=3)
    params: dict[str, ParamValue] = Field(
        default_factory=dict, description="Effect-specific parameters (see the catalogue)."
    )

    @model_validator(mode="after")
    def _check_catalog(self) -> EffectScene:
        info = effect_info(self.effect)
        if self.palette is not None and self.palette not in palette_names():
            raise ValueError(
                f"unknown palette {self.palette!r}; allowed: {', '.join(palette_names())}"
            )
        specs = {spec.name: spec for spec in info.params}
        for key, value in self.params.items():
            spec = specs.get(key)
            if spec is None:
                allowed = ", ".join(specs) or "none"
                raise ValueError(
                    f"effect {self.effect!r} has no parameter {key!r}; allowed: {allowed}"
                )
            _check_param(self.effect, spec, value)
        return self


def effect_info(name: str) -> EffectInfo:
    for info in EFFECTS:
        if info.name == name:
            return info
    names = ", ".join(i.name for i in EFFECTS)
    raise ValueError(f"unknown effect {name!r}; allowed: {names}")


def palette_names() -> tuple[str, ...]:
    return tuple(p.name for p in PALETTES)


def _check_param(effect: str, spec: ParamSpec, value: ParamValue) -> None:
    where = f"effect {effect!r} parameter {spec.name!r}"
    if spec.type == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{where} must be true or false")
        return
    if spec.type == "choice":
        if not isinstance(value, str) or value not in (spec.choices or ()):
            raise ValueError(f"{where} must be one of {', '.join(spec.choices or ())}")
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where} must be a number")
    if spec.type == "int" and not float(value).is_integer():
        raise ValueError(f"{where} must be a whole number")
    lo = spec.minimum if spec.minimum is not None else float("-inf")
    hi = spec.maximum if spec.maximum is not None else float("inf")
    if not lo <= value <= hi:
        raise ValueError(f"{where} must be between {spec.minimum} and {spec.maximum}")


class ClockScene(WireModel):
    """A digital clock; the analogue face is the ``clock_face`` effect."""

    type: Literal["clock"] = "clock"
    format: Literal["24h", "12h"] = "24h"
    seconds: bool = False
    date: bool = False
    timezone: str | None = Field(default=None, description="IANA zone; None: the device's.")
    font: FontName = "6x10"
    color: Color = WHITE
    date_color: Color | None = None
    background: Color = BLACK

    @model_validator(mode="after")
    def _check_timezone(self) -> ClockScene:
        if self.timezone is not None:
            check_timezone(self.timezone)
        return self


class StreamScene(WireModel):
    """Live pixels from a realtime source (E1.31/sACN, Art-Net, DDP, WebSocket)."""

    type: Literal["stream"] = "stream"
    source: Literal["any", "e131", "artnet", "ddp", "websocket"] = "any"
    timeout_ms: int = Field(
        default=2500, ge=100, le=600_000, description="No data for this long: show `idle`."
    )
    idle: Literal["black", "hold"] = "black"


BaseScene = Annotated[
    SolidScene | TextScene | ImageScene | GifScene | EffectScene | ClockScene | StreamScene,
    Field(discriminator="type"),
]

BlendMode = Literal["normal", "add", "screen", "multiply"]


class Layer(WireModel):
    scene: BaseScene
    opacity: float = Field(default=1.0, ge=0.0, le=1.0)
    blend: BlendMode = "normal"
    visible: bool = True


class LayersScene(WireModel):
    """Scenes stacked bottom to top."""

    type: Literal["layers"] = "layers"
    layers: tuple[Layer, ...] = Field(min_length=1, max_length=8)
    background: Color = BLACK


Scene = Annotated[
    SolidScene
    | TextScene
    | ImageScene
    | GifScene
    | EffectScene
    | ClockScene
    | StreamScene
    | LayersScene,
    Field(discriminator="type"),
]

TransitionKind = Literal[
    "cut", "fade", "wipe_left", "wipe_right", "wipe_up", "wipe_down", "dissolve"
]


class Transition(WireModel):
    """How the matrix goes from one scene to the next."""

    kind: TransitionKind = "fade"
    duration_ms: int = Field(default=500, ge=0, le=60_000)


def scene_media(scene: object) -> list[str]:
    """Every media id a scene refers to (for reference checks and cleanup)."""
    if isinstance(scene, ImageScene | GifScene):
        return [scene.media]
    if isinstance(scene, LayersScene):
        return [m for layer in scene.layers for m in scene_media(layer.scene)]
    return []
