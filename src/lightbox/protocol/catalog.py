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


def _fx(
    name: str,
    title: str,
    description: str,
    *,
    speed: str | None,
    intensity: str | None,
    palette: str | None = None,
    colors: int = 0,
    params: tuple[ParamSpec, ...] = (),
) -> EffectInfo:
    """One catalogue entry; what speed and intensity mean is appended to the description."""
    parts = [description]
    if speed:
        parts.append(f"Speed: {speed}.")
    if intensity:
        parts.append(f"Intensity: {intensity}.")
    return EffectInfo(
        name=name,
        title=title,
        description=" ".join(parts),
        uses_speed=speed is not None,
        uses_intensity=intensity is not None,
        uses_palette=palette is not None,
        uses_colors=colors,
        default_palette=palette,
        params=params,
    )


# One EffectInfo per built-in effect, in display order.
EFFECTS: tuple[EffectInfo, ...] = (
    _fx(
        "rainbow",
        "Rainbow",
        "A palette (a rainbow by default) scrolling across the matrix at an angle.",
        speed="how fast it scrolls",
        intensity="how many repeats fit across the matrix",
        palette="rainbow",
        params=(
            ParamSpec(
                name="angle",
                type="int",
                description="Direction of the bands in degrees (0 = vertical bands).",
                default=30,
                minimum=0,
                maximum=359,
            ),
        ),
    ),
    _fx(
        "gradient",
        "Gradient",
        "A smooth gradient through the palette (the scene colours by default), scrolling.",
        speed="how fast it scrolls",
        intensity="how many repeats fit across the matrix",
        palette="colors",
        colors=3,
        params=(
            ParamSpec(
                name="direction",
                type="choice",
                description="Which way the gradient runs.",
                default="horizontal",
                choices=("horizontal", "vertical", "diagonal", "radial"),
            ),
        ),
    ),
    _fx(
        "breathe",
        "Breathe",
        "The whole matrix slowly breathes in the first colour.",
        speed="breaths per minute",
        intensity="how bright it stays at the bottom of a breath",
        colors=1,
    ),
    _fx(
        "plasma",
        "Plasma",
        "The classic demo-scene plasma: interfering sine waves through a palette.",
        speed="how fast it flows",
        intensity="zoom (higher shows more, finer detail)",
        palette="party",
    ),
    _fx(
        "noise",
        "Noise",
        "Drifting, evolving value noise (Perlin-like clouds) through a palette.",
        speed="how fast it drifts and evolves",
        intensity="zoom (higher shows more, finer detail)",
        palette="party",
    ),
    _fx(
        "waves",
        "Waves",
        "Overlapping water waves rolling in from several directions.",
        speed="how fast the waves travel",
        intensity="how short the waves are",
        palette="ocean",
    ),
    _fx(
        "spiral",
        "Spiral",
        "Palette arms spiralling around the centre.",
        speed="how fast it turns",
        intensity="how tightly the arms are wound",
        palette="rainbow",
        params=(
            ParamSpec(
                name="arms",
                type="int",
                description="Number of spiral arms.",
                default=3,
                minimum=1,
                maximum=8,
            ),
        ),
    ),
    _fx(
        "ripples",
        "Ripples",
        "Raindrops on a pond: rings spread, reflect and interfere (a wave simulation).",
        speed="how fast the water moves",
        intensity="how often drops fall",
        palette="ice",
    ),
    _fx(
        "metaballs",
        "Metaballs",
        "Glowing blobs that merge and split as they float around.",
        speed="how fast they move",
        intensity="how many blobs (2..8)",
        palette="party",
    ),
    _fx(
        "lava_lamp",
        "Lava lamp",
        "Soft blobs of wax slowly rising, merging and sinking.",
        speed="how fast the wax moves",
        intensity="how many blobs (2..7)",
        palette="lava",
    ),
    _fx(
        "aurora",
        "Aurora",
        "Northern lights: curtains of light waving across the sky.",
        speed="how fast the curtains move",
        intensity="how bright the curtains are",
        palette="aurora",
    ),
    _fx(
        "fire",
        "Fire",
        "Flames rising from the bottom edge (a heat-diffusion fire).",
        speed="how fast the flames rise",
        intensity="how tall the flames are",
        palette="fire",
    ),
    _fx(
        "noise_fire",
        "Noise fire",
        "A smooth fire made of noise scrolling upwards and cooling with height.",
        speed="how fast the flames rise",
        intensity="how tall the flames are",
        palette="heat",
    ),
    _fx(
        "matrix",
        "Matrix",
        "Digital rain: glowing glyph trails falling down the columns.",
        speed="how fast the rain falls",
        intensity="how many columns are raining",
        colors=1,
    ),
    _fx(
        "starfield",
        "Starfield",
        "Flying through space: stars stream out from the centre.",
        speed="how fast we fly",
        intensity="how many stars",
        colors=1,
    ),
    _fx(
        "snow",
        "Snow",
        "Snowflakes drifting down, near ones bigger and faster.",
        speed="how fast it falls",
        intensity="how hard it snows",
        colors=1,
    ),
    _fx(
        "twinkle",
        "Twinkle",
        "Random pixels fading in and out in palette colours.",
        speed="how fast they twinkle",
        intensity="how many pixels twinkle",
        palette="party",
    ),
    _fx(
        "fireworks",
        "Fireworks",
        "Rockets climb and burst into falling, fading sparks.",
        speed="how fast time runs",
        intensity="how often rockets are launched",
        palette="party",
    ),
    _fx(
        "bouncing_balls",
        "Bouncing balls",
        "Balls bouncing under gravity, kicked up again when they settle.",
        speed="how fast time runs",
        intensity="how many balls (1..16)",
        palette="rainbow",
        params=(
            ParamSpec(
                name="trail",
                type="bool",
                description="Leave a fading trail behind each ball.",
                default=True,
            ),
        ),
    ),
    _fx(
        "comet",
        "Comet",
        "Comets looping across the matrix with fading tails (a 2D sinelon).",
        speed="how fast they fly",
        intensity="how long the tails are",
        palette="rainbow",
        params=(
            ParamSpec(
                name="count",
                type="int",
                description="Number of comets.",
                default=2,
                minimum=1,
                maximum=6,
            ),
        ),
    ),
    _fx(
        "scanner",
        "Scanner",
        "A bar sweeping left and right with a glowing tail (a Larson scanner).",
        speed="how fast it sweeps",
        intensity="how long the tail is",
        colors=1,
    ),
    _fx(
        "checker",
        "Checker",
        "A checkerboard of the first two colours, sliding and turning.",
        speed="how fast it moves",
        intensity="how small the squares are",
        colors=2,
        params=(
            ParamSpec(
                name="rotate",
                type="bool",
                description="Turn the board as well as sliding it.",
                default=True,
            ),
        ),
    ),
    _fx(
        "dna",
        "DNA",
        "A turning double helix: two strands in the first two colours, rungs in the third.",
        speed="how fast it turns",
        intensity="how many turns fit across the matrix",
        colors=3,
    ),
    _fx(
        "life",
        "Game of Life",
        "Conway's Game of Life on a wrapped grid, coloured by cell age; "
        "reseeds when it dies out or settles into a short loop.",
        speed="generations per second",
        intensity="how full the grid starts",
        palette="heat",
    ),
    _fx(
        "julia",
        "Julia set",
        "A morphing Julia fractal.",
        speed="how fast it morphs",
        intensity="how much detail (iterations)",
        palette="sunset",
    ),
    _fx(
        "clock_face",
        "Clock face",
        "An analogue clock: dial, hour hand (first colour), minute hand (second colour) "
        "and second hand (third colour).",
        speed=None,
        intensity="how bright the dial is",
        colors=3,
        params=(
            ParamSpec(
                name="show_seconds",
                type="bool",
                description="Draw the second hand.",
                default=True,
            ),
        ),
    ),
)

PALETTES: tuple[PaletteInfo, ...] = (
    PaletteInfo(name="rainbow", title="Rainbow"),
    PaletteInfo(name="party", title="Party"),
    PaletteInfo(name="ocean", title="Ocean"),
    PaletteInfo(name="forest", title="Forest"),
    PaletteInfo(name="lava", title="Lava"),
    PaletteInfo(name="heat", title="Heat"),
    PaletteInfo(name="fire", title="Fire"),
    PaletteInfo(name="cloud", title="Cloud"),
    PaletteInfo(name="sunset", title="Sunset"),
    PaletteInfo(name="aurora", title="Aurora"),
    PaletteInfo(name="ice", title="Ice"),
    PaletteInfo(name="pastel", title="Pastel"),
    PaletteInfo(name="colors", title="Scene colours"),
)

_BY_NAME: dict[str, EffectInfo] = {info.name: info for info in EFFECTS}


def effect_info(name: str) -> EffectInfo:
    """The catalogue entry of effect ``name``; ``KeyError`` listing the known ones."""
    try:
        return _BY_NAME[name]
    except KeyError:
        known = ", ".join(_BY_NAME)
        raise KeyError(f"unknown effect {name!r}; known effects: {known}") from None
