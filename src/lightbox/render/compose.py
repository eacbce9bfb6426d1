"""Layer composition and transitions: pure, vectorised numpy."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from lightbox.render.frame import Frame, Layer, Mask

BLENDS = ("normal", "add", "screen", "multiply")


def _blend(
    base: npt.NDArray[np.float32], top: npt.NDArray[np.float32], mode: str
) -> npt.NDArray[np.float32]:
    full = np.float32(255.0)
    out: npt.NDArray[np.float32]
    if mode == "normal":
        out = top
    elif mode == "add":
        out = np.minimum(base + top, full)
    elif mode == "screen":
        out = (full - (full - base) * (full - top) / full).astype(np.float32)
    elif mode == "multiply":
        out = (base * top / full).astype(np.float32)
    else:
        raise ValueError(f"unknown blend mode {mode!r}; allowed: {', '.join(BLENDS)}")
    return out


def composite(base: Frame, layer: Layer, opacity: float = 1.0, blend: str = "normal") -> Frame:
    """Put ``layer`` over ``base`` with its alpha, ``opacity`` and ``blend``; return a new frame."""
    if opacity <= 0.0:
        return base
    if blend == "normal" and layer.alpha is None and opacity >= 1.0:
        return layer.rgb
    b = base.astype(np.float32)
    top = _blend(b, layer.rgb.astype(np.float32), blend)
    if layer.alpha is None:
        a: npt.NDArray[np.float32] | float = opacity
    else:
        a = layer.alpha.astype(np.float32)[..., None] * (opacity / 255.0)
    out = b + (top - b) * a
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def flatten(layer: Layer, background: tuple[int, int, int] = (0, 0, 0)) -> Frame:
    """An opaque frame from a layer that may have alpha."""
    if layer.alpha is None:
        return layer.rgb
    base = np.empty_like(layer.rgb)
    base[...] = background
    return composite(base, layer)


def mix(a: Frame, b: Frame, amount: float) -> Frame:
    """Cross-fade: ``amount`` 0 gives ``a``, 1 gives ``b``."""
    if amount <= 0.0:
        return a
    if amount >= 1.0:
        return b
    w = np.uint16(round(amount * 256))
    out = (a.astype(np.uint16) * (256 - w) + b.astype(np.uint16) * w) >> 8
    return out.astype(np.uint8)


def wipe_mask(width: int, height: int, direction: str, amount: float) -> Mask:
    """Where the new scene shows during a wipe (255) at progress ``amount``."""
    mask = np.zeros((height, width), dtype=np.uint8)
    if direction in ("left", "right"):
        n = round(amount * width)
        if direction == "left":  # the new scene enters from the right, moving left
            mask[:, width - n :] = 255
        else:
            mask[:, :n] = 255
    else:
        n = round(amount * height)
        if direction == "up":
            mask[height - n :, :] = 255
        else:
            mask[:n, :] = 255
    return mask


def dissolve_mask(thresholds: npt.NDArray[np.float32], amount: float) -> Mask:
    """Pixels whose threshold is below ``amount`` show the new scene."""
    return np.where(thresholds < amount, np.uint8(255), np.uint8(0))


def select(a: Frame, b: Frame, mask: Mask) -> Frame:
    """``b`` where mask is set, else ``a``."""
    return np.where(mask[..., None] > 127, b, a)
