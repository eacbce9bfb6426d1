"""The built-in effects, by catalogue name.

``create_effect("plasma", 64, 32, EffectParams(speed=200))`` builds one; the names and
their parameters are those of ``lightbox.protocol.catalog.EFFECTS`` (a test checks the two
agree). Families live in their own modules: ``classic`` (rainbow, gradient, breathe,
twinkle), ``fields`` (plasma, noise, waves, spiral, metaballs, lava lamp, aurora, Julia),
``geometric`` (scanner, checker, DNA, clock face), ``particles`` (matrix, starfield, snow,
fireworks, bouncing balls, comet) and ``simulations`` (fire, noise fire, ripples, life).
"""

from __future__ import annotations

from lightbox.render.effects.base import Effect, EffectParams
from lightbox.render.effects.classic import Breathe, Gradient, Rainbow, Twinkle
from lightbox.render.effects.fields import (
    Aurora,
    Julia,
    LavaLamp,
    Metaballs,
    Noise,
    Plasma,
    Spiral,
    Waves,
)
from lightbox.render.effects.geometric import Checker, ClockFace, Dna, Scanner
from lightbox.render.effects.particles import (
    BouncingBalls,
    Comet,
    Fireworks,
    MatrixRain,
    Snow,
    Starfield,
)
from lightbox.render.effects.simulations import Fire, Life, NoiseFire, Ripples

__all__ = [
    "EFFECT_CLASSES",
    "Effect",
    "EffectParams",
    "create_effect",
    "effect_names",
]

_CLASSES: tuple[type[Effect], ...] = (
    Rainbow,
    Gradient,
    Breathe,
    Plasma,
    Noise,
    Waves,
    Spiral,
    Ripples,
    Metaballs,
    LavaLamp,
    Aurora,
    Fire,
    NoiseFire,
    MatrixRain,
    Starfield,
    Snow,
    Twinkle,
    Fireworks,
    BouncingBalls,
    Comet,
    Scanner,
    Checker,
    Dna,
    Life,
    Julia,
    ClockFace,
)

EFFECT_CLASSES: dict[str, type[Effect]] = {cls.info.name: cls for cls in _CLASSES}
"""Effect classes by catalogue name, in catalogue (display) order."""


def effect_names() -> list[str]:
    """The names of the built-in effects, in display order."""
    return list(EFFECT_CLASSES)


def create_effect(
    name: str, width: int, height: int, params: EffectParams | None = None, seed: int = 0
) -> Effect:
    """Build effect ``name`` for a ``width x height`` canvas.

    Raises ``KeyError`` naming the known effects when ``name`` is not one of them, and
    ``ValueError`` for a canvas smaller than 1x1.
    """
    try:
        cls = EFFECT_CLASSES[name]
    except KeyError:
        known = ", ".join(EFFECT_CLASSES)
        raise KeyError(f"unknown effect {name!r}; known effects: {known}") from None
    if width < 1 or height < 1:
        raise ValueError(f"effect canvas must be at least 1x1, got {width}x{height}")
    return cls(width, height, params if params is not None else EffectParams(), seed)
