"""Shared helpers for driver tests."""

from __future__ import annotations

import numpy as np

from lightbox.protocol.settings import MatrixSettings, OutputSettings
from lightbox.render.output import Layout, OutputFrame, OutputStage


def numbered(width: int, height: int) -> np.ndarray:
    """A frame whose every pixel is distinct (for small sizes)."""
    i = np.arange(width * height, dtype=np.int64).reshape(height, width)
    return np.stack([i % 256, (i * 7) % 256, (255 - i) % 256], axis=-1).astype(np.uint8)


def output_frame(
    matrix: MatrixSettings, layout: Layout, frame: np.ndarray | None = None
) -> OutputFrame:
    stage = OutputStage(matrix, OutputSettings(gamma=1.0))
    if frame is None:
        frame = numbered(matrix.width, matrix.height)
    return stage.process(frame, 255, layout)
