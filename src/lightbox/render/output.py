"""The output stage: from a rendered canvas frame to what a driver sends to the LEDs.

Applied once per frame, for every driver, in this order::

    brightness   effective = min(brightness, max_brightness) / 255
    power limit  estimate the LED current of the values actually driven (after gamma);
                 over ``budget_ma``: scale the brightness down until it fits
    gamma        one 256-entry lookup table (brightness folded in)
    colour order RGB -> the wire order of the LEDs (GRB, ...)
    mapping      rotation/flip -> panels in chain order -> (strips) LEDs in wiring order

Everything that depends only on the settings (index maps, channel permutation) is computed
once in :class:`OutputStage`; :meth:`OutputStage.process` is a histogram, a 256-entry
lookup table and one or two vectorised gathers.

Geometry (see :mod:`lightbox.protocol.settings` for the vocabulary):

- *physical* image: the canvas rotated **clockwise** by ``rotation`` degrees, then mirrored
  left-right (``flip_x``) and top-bottom (``flip_y``).
- *panels*: the physical image cut into ``panel_width`` x ``panel_height`` tiles, numbered in
  chain order from ``chain_start``, along rows (or columns) of panels. With
  ``chain_serpentine`` the odd rows (columns) run back the other way and their panels are
  mounted upside down (rotated 180 degrees).
- *chain* layout: the panels side by side in chain order, each in its own wiring
  orientation: ``(panel_h, panel_w * n_panels, 3)``.
- *strip* layout: inside each panel the LEDs run row by row from ``strip_start``; with
  ``serpentine`` every other row runs back. ``(n_leds, 3)``.

The output stage is pure: no I/O, no clocks.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from lightbox.protocol.settings import Corner, MatrixSettings, OutputSettings
from lightbox.render.frame import Frame

__all__ = [
    "Layout",
    "OutputFrame",
    "OutputStage",
    "PanelPlacement",
    "chain_map",
    "gamma_lut",
    "panel_placements",
    "physical_map",
    "strip_map",
]

Layout = Literal["canvas", "chain", "strip"]

IndexMap = npt.NDArray[np.intp]

_LEVELS = np.arange(256, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class OutputFrame:
    """A frame ready for a driver.

    - ``canvas``: ``H x W x 3`` sRGB after brightness and the power limit; no gamma, colour
      order or mapping (for previews).
    - ``chain``: ``(panel_h, panel_w * n_panels, 3)`` encoded (gamma, colour order), panels
      side by side in chain order, each oriented as wired.
    - ``strip``: ``(n_leds, 3)`` encoded, LEDs in wiring order.
    """

    pixels: npt.NDArray[np.uint8]
    layout: Layout
    estimated_ma: float
    """Estimated LED current of this frame after limiting."""
    power_scale: float
    """1.0: not limited; below 1: the limiter scaled the brightness down."""


@dataclass(frozen=True, slots=True)
class PanelPlacement:
    """Where the ``index``-th panel of the chain sits in the physical grid."""

    index: int
    column: int
    row: int
    upside_down: bool


@functools.lru_cache(maxsize=1024)
def gamma_lut(gamma: float, scale: float = 1.0) -> npt.NDArray[np.uint8]:
    """``round(255 * (v * scale / 255) ** gamma)`` for v in 0..255 (read-only, cached).

    A frame needs it twice (power estimate, output) for the same few brightness levels:
    cached, a frame of a small matrix costs a third less.
    """
    values = np.clip(_LEVELS * scale, 0.0, 255.0) / 255.0
    if gamma != 1.0:
        values = values**gamma
    lut = np.rint(values * 255.0).astype(np.uint8)
    lut.flags.writeable = False
    return lut


@functools.lru_cache(maxsize=1024)
def _lut_f64(gamma: float, scale: float) -> npt.NDArray[np.float64]:
    values = gamma_lut(gamma, scale).astype(np.float64)
    values.flags.writeable = False
    return values


def physical_map(matrix: MatrixSettings) -> IndexMap:
    """``(phys_h, phys_w)`` array of canvas pixel indices (``y * width + x``)."""
    index = np.arange(matrix.pixel_count, dtype=np.intp).reshape(matrix.height, matrix.width)
    index = np.rot90(index, k=-(matrix.rotation // 90))
    if matrix.flip_x:
        index = index[:, ::-1]
    if matrix.flip_y:
        index = index[::-1, :]
    return np.ascontiguousarray(index)


def _along(count: int, reverse: bool) -> list[int]:
    return list(range(count - 1, -1, -1)) if reverse else list(range(count))


def panel_placements(matrix: MatrixSettings) -> list[PanelPlacement]:
    """The panels in chain order with their grid position and mounting."""
    phys_w, phys_h = matrix.physical_size
    panel_w, panel_h = matrix.panel_size
    columns, rows = phys_w // panel_w, phys_h // panel_h
    from_right = matrix.chain_start.endswith("right")
    from_bottom = matrix.chain_start.startswith("bottom")
    placements: list[PanelPlacement] = []
    if matrix.chain_order == "rows":
        for line, row in enumerate(_along(rows, from_bottom)):
            back = matrix.chain_serpentine and line % 2 == 1
            for column in _along(columns, from_right != back):
                placements.append(PanelPlacement(len(placements), column, row, back))
    else:
        for line, column in enumerate(_along(columns, from_right)):
            back = matrix.chain_serpentine and line % 2 == 1
            for row in _along(rows, from_bottom != back):
                placements.append(PanelPlacement(len(placements), column, row, back))
    return placements


def chain_map(matrix: MatrixSettings) -> IndexMap:
    """``(panel_h, panel_w * n_panels)`` canvas indices: the panels side by side."""
    physical = physical_map(matrix)
    panel_w, panel_h = matrix.panel_size
    tiles = []
    for place in panel_placements(matrix):
        tile = physical[
            place.row * panel_h : (place.row + 1) * panel_h,
            place.column * panel_w : (place.column + 1) * panel_w,
        ]
        tiles.append(tile[::-1, ::-1] if place.upside_down else tile)
    return np.ascontiguousarray(np.concatenate(tiles, axis=1))


def _strip_order(panel_w: int, panel_h: int, start: Corner, serpentine: bool) -> IndexMap:
    """Panel-local pixel indices (``y * panel_w + x``) in LED order."""
    local = np.arange(panel_w * panel_h, dtype=np.intp).reshape(panel_h, panel_w)
    if start.endswith("right"):
        local = local[:, ::-1]
    if start.startswith("bottom"):
        local = local[::-1, :]
    if serpentine:
        local = local.copy()
        local[1::2] = local[1::2, ::-1]
    return local.reshape(-1)


def strip_map(matrix: MatrixSettings) -> IndexMap:
    """``(n_leds,)`` canvas indices in LED wiring order."""
    chain = chain_map(matrix)
    panel_w, panel_h = matrix.panel_size
    n_panels = chain.shape[1] // panel_w
    order = _strip_order(panel_w, panel_h, matrix.strip_start, matrix.serpentine)
    # (panel_h, n, panel_w) -> (n, panel_h * panel_w), then the LED order inside each panel.
    panels = chain.reshape(panel_h, n_panels, panel_w).transpose(1, 0, 2).reshape(n_panels, -1)
    return np.ascontiguousarray(panels[:, order].reshape(-1))


def _channel_index(pixel_index: IndexMap, permutation: tuple[int, int, int]) -> IndexMap:
    """Flat indices into ``frame.reshape(-1)`` for every output channel value."""
    perm = np.asarray(permutation, dtype=np.intp)
    return np.ascontiguousarray((pixel_index[..., None] * 3 + perm).reshape(-1))


class OutputStage:
    """Brightness, power limit, gamma, colour order and mapping, precomputed per settings."""

    def __init__(self, matrix: MatrixSettings, output: OutputSettings) -> None:
        self.matrix = matrix
        self.output = output
        self._gamma = float(output.gamma)
        self._permutation: tuple[int, int, int] = (
            "RGB".index(output.color_order[0]),
            "RGB".index(output.color_order[1]),
            "RGB".index(output.color_order[2]),
        )
        self._shape = (matrix.height, matrix.width, 3)
        chain = chain_map(matrix)
        strip = strip_map(matrix)
        self.chain_shape: tuple[int, int, int] = (chain.shape[0], chain.shape[1], 3)
        self.strip_shape: tuple[int, int] = (strip.shape[0], 3)
        self._chain_index = _channel_index(chain, self._permutation)
        self._strip_index = _channel_index(strip, self._permutation)
        identity = np.arange(matrix.pixel_count * 3, dtype=np.intp)
        self._chain_identity = bool(np.array_equal(self._chain_index, identity))
        self._strip_identity = bool(np.array_equal(self._strip_index, identity))
        power = output.power
        self._budget = float(power.budget_ma)
        self._ma_per_unit = power.ma_per_channel / 255.0
        self._idle_ma = power.idle_ma_per_led * matrix.pixel_count

    @property
    def led_count(self) -> int:
        return self.matrix.pixel_count

    def _check(self, frame: Frame) -> None:
        if frame.shape != self._shape or frame.dtype != np.uint8:
            raise ValueError(
                f"frame {frame.shape} {frame.dtype} does not match the matrix "
                f"{self.matrix.width}x{self.matrix.height} (expected {self._shape} uint8)"
            )

    def _scale(self, brightness: int) -> float:
        return min(max(int(brightness), 0), self.output.max_brightness) / 255.0

    def _estimate(self, counts: npt.NDArray[np.intp], scale: float) -> float:
        driven = float(np.dot(counts, _lut_f64(self._gamma, scale)))
        return driven * self._ma_per_unit + self._idle_ma

    def estimate_ma(self, frame: Frame, brightness: int) -> float:
        """Estimated LED current at ``brightness`` (capped), before the power limiter."""
        self._check(frame)
        counts = np.bincount(frame.reshape(-1), minlength=256)
        return self._estimate(counts, self._scale(brightness))

    def _limit(self, frame: Frame, scale: float) -> tuple[float, float]:
        """The brightness scale that fits the budget, and the estimate at that scale."""
        counts = np.bincount(frame.reshape(-1), minlength=256)
        estimate = self._estimate(counts, scale)
        if self._budget <= 0 or estimate <= self._budget or scale <= 0:
            return scale, estimate
        headroom = self._budget - self._idle_ma
        driven = estimate - self._idle_ma
        if headroom <= 0:
            return 0.0, self._idle_ma
        # Driven values scale with scale ** gamma; start there, then step down past rounding.
        limited = scale * (headroom / driven) ** (1.0 / self._gamma)
        for _ in range(64):
            estimate = self._estimate(counts, limited)
            if estimate <= self._budget:
                return limited, estimate
            limited *= 0.99
        return 0.0, self._idle_ma

    def process(self, frame: Frame, brightness: int, layout: Layout = "chain") -> OutputFrame:
        """Apply the whole stage to one canvas frame."""
        self._check(frame)
        requested = self._scale(brightness)
        scale, estimate = self._limit(frame, requested)
        power_scale = scale / requested if requested > 0 else 1.0
        if layout == "canvas":
            lut = gamma_lut(1.0, scale)
            pixels = lut.take(frame) if scale < 1.0 else frame.copy()
            return OutputFrame(pixels, "canvas", estimate, power_scale)
        lut = gamma_lut(self._gamma, scale)
        flat = frame.reshape(-1)
        if layout == "chain":
            gathered = flat if self._chain_identity else flat.take(self._chain_index)
            pixels = lut.take(gathered).reshape(self.chain_shape)
        elif layout == "strip":
            gathered = flat if self._strip_identity else flat.take(self._strip_index)
            pixels = lut.take(gathered).reshape(self.strip_shape)
        else:
            raise ValueError(f"unknown layout {layout!r}: expected canvas, chain or strip")
        return OutputFrame(pixels, layout, estimate, power_scale)
