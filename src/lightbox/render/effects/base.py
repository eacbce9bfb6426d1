"""The effect interface.

An effect is created for one canvas size and one set of parameters, then asked for frames
at increasing times ``t`` (seconds since the scene started). It is pure: no clock, no I/O,
no global random state. Given the same size, parameters, seed and sequence of ``t`` it
returns the same frames, which is what the golden-frame tests rely on. Stateful effects
(fire, Game of Life, particles) advance their state by the elapsed ``t``, never by a fixed
step per call, so they run at the same speed at any fps.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from lightbox.protocol.catalog import EffectInfo
from lightbox.protocol.color import RGB
from lightbox.render.frame import Frame


@dataclass(frozen=True, slots=True)
class EffectParams:
    """Validated parameters, as the effect sees them."""

    speed: int = 128  # 0..255
    intensity: int = 128  # 0..255
    palette: str | None = None  # None: the effect's default palette
    colors: tuple[RGB, ...] = ()
    extra: dict[str, int | float | bool | str] = field(default_factory=dict)


class Effect(ABC):
    """Base class of every built-in effect."""

    info: ClassVar[EffectInfo]

    def __init__(self, width: int, height: int, params: EffectParams, seed: int = 0) -> None:
        self.width = width
        self.height = height
        self.params = params
        self.rng = np.random.default_rng(seed)

    @abstractmethod
    def render(self, t: float) -> Frame:
        """Return the frame at ``t`` seconds (``H x W x 3`` uint8, a new or owned array)."""
