"""Golden-frame assertions.

``assert_golden(frame, "effects/plasma")`` compares a frame with
``tests/golden/effects/plasma.png``. Set ``LIGHTBOX_UPDATE_GOLDEN=1`` to (re)write the
files instead; review the PNGs before committing them. ``tolerance`` is the largest allowed
absolute difference of any channel of any pixel (0 = exact).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

GOLDEN_DIR = Path(__file__).parent / "golden"


def _update() -> bool:
    return os.environ.get("LIGHTBOX_UPDATE_GOLDEN", "") not in ("", "0")


def assert_golden(frame: np.ndarray, name: str, tolerance: int = 0) -> None:
    assert frame.dtype == np.uint8, f"{name}: frame dtype {frame.dtype}, expected uint8"
    assert frame.ndim == 3 and frame.shape[2] == 3, f"{name}: frame shape {frame.shape}"
    path = GOLDEN_DIR / f"{name}.png"
    if _update():
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(frame, "RGB").save(path, optimize=True)
        return
    assert path.exists(), f"no golden frame {path}; run with LIGHTBOX_UPDATE_GOLDEN=1 to create it"
    expected = np.asarray(Image.open(path).convert("RGB"))
    assert expected.shape == frame.shape, f"{name}: shape {frame.shape} != golden {expected.shape}"
    diff = np.abs(expected.astype(np.int16) - frame.astype(np.int16))
    worst = int(diff.max()) if diff.size else 0
    if worst > tolerance:
        bad = int((diff.max(axis=2) > tolerance).sum())
        raise AssertionError(
            f"{name}: {bad} pixels differ from {path} by up to {worst} (tolerance {tolerance})"
        )
