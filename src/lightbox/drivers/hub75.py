"""HUB75 panels through hzeller's rpi-rgb-led-matrix Python bindings (module ``rgbmatrix``).

The output stage has already applied brightness, gamma, the power limit and the colour
order, so the library runs neutral: ``brightness`` 100 and, where the bindings expose it,
its CIE1931 luminance correction off (``luminanceCorrect = False``), otherwise the colours
would be corrected twice. ``led_rgb_sequence`` is passed through for panels whose wiring
swaps channels; keep either it or ``output.color_order`` at ``RGB``.

Frames come in chain layout (panels side by side in chain order, panel 0 first). The
library's canvas is ``cols * chain_length`` wide and ``rows * parallel`` high; each parallel
chain is one band of rows, and, looking at the LED side, its x = 0 is on the panel *farthest*
from the Pi (data enters at the right). So panel ``k`` of our chain goes to parallel chain
``k // chain_length`` at x offset ``(chain_length - 1 - k % chain_length) * cols``. That
rearrangement is one precomputed numpy gather per frame, then ``SetImage`` (the bindings'
fast path) and ``SwapOnVSync``.

``drop_privileges`` is turned off: the library would otherwise switch the whole LightBox
process to the ``daemon`` user after start-up.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
from PIL import Image

from lightbox.drivers.base import (
    Driver,
    DriverConfigError,
    DriverIOError,
    DriverUnavailableError,
)
from lightbox.protocol.settings import Hub75Driver, MatrixSettings
from lightbox.render.output import Layout, OutputFrame

__all__ = ["Hub75Output", "hub75_canvas_map", "load_rgbmatrix"]

INSTALL_HINT = (
    "the rgbmatrix module (hzeller/rpi-rgb-led-matrix) is not installed: on the Pi run "
    "`sudo apt-get install -y python3-dev cython3 && git clone "
    "https://github.com/hzeller/rpi-rgb-led-matrix && cd rpi-rgb-led-matrix && "
    "make build-python PYTHON=$(which python3) && sudo make install-python "
    "PYTHON=$(which python3)` with LightBox's virtualenv python (see docs/drivers.md)"
)


def load_rgbmatrix() -> ModuleType:
    try:
        return importlib.import_module("rgbmatrix")
    except ImportError as err:
        raise DriverUnavailableError(INSTALL_HINT) from err


def hub75_canvas_map(settings: Hub75Driver) -> npt.NDArray[np.intp]:
    """Column/row gather from chain layout to the library's canvas, as flat pixel indices.

    Returns a ``(rows * parallel, cols * chain_length)`` array of indices into the chain
    frame's ``(rows, cols * n_panels)`` pixels.
    """
    rows, cols, chain, parallel = (
        settings.rows,
        settings.cols,
        settings.chain_length,
        settings.parallel,
    )
    n_panels = chain * parallel
    chain_index = np.arange(rows * cols * n_panels, dtype=np.intp).reshape(rows, n_panels * cols)
    canvas = np.empty((rows * parallel, cols * chain), dtype=np.intp)
    for k in range(n_panels):
        band, position = divmod(k, chain)
        x = (chain - 1 - position) * cols
        canvas[band * rows : (band + 1) * rows, x : x + cols] = chain_index[
            :, k * cols : (k + 1) * cols
        ]
    return canvas


class Hub75Output(Driver):
    """Shows chain-layout frames on HUB75 panels."""

    layout: ClassVar[Layout] = "chain"

    def __init__(
        self,
        settings: Hub75Driver,
        matrix: MatrixSettings,
        module: ModuleType | Any | None = None,
    ) -> None:
        super().__init__()
        panel_w, panel_h = matrix.panel_size
        n_panels = (matrix.pixel_count) // (panel_w * panel_h)
        if (panel_w, panel_h) != (settings.cols, settings.rows):
            raise DriverConfigError(
                f"the matrix's panels are {panel_w}x{panel_h} but the HUB75 driver is set to "
                f"cols={settings.cols} rows={settings.rows}: make them equal"
            )
        if n_panels != settings.chain_length * settings.parallel:
            raise DriverConfigError(
                f"the matrix has {n_panels} panels but chain_length x parallel is "
                f"{settings.chain_length} x {settings.parallel}: make them equal"
            )
        self.settings = settings
        self.matrix = matrix
        self._module = module if module is not None else load_rgbmatrix()
        self._index = hub75_canvas_map(settings).reshape(-1)
        self._canvas_shape = (
            settings.rows * settings.parallel,
            settings.cols * settings.chain_length,
            3,
        )
        self._identity = bool(np.array_equal(self._index, np.arange(self._index.size)))
        self._matrix: Any = None
        self._canvas: Any = None

    def options(self) -> Any:
        """The library's ``RGBMatrixOptions`` for these settings."""
        s = self.settings
        options = self._module.RGBMatrixOptions()
        options.rows = s.rows
        options.cols = s.cols
        options.chain_length = s.chain_length
        options.parallel = s.parallel
        options.hardware_mapping = s.hardware_mapping
        options.pwm_bits = s.pwm_bits
        options.pwm_lsb_nanoseconds = s.pwm_lsb_nanoseconds
        options.gpio_slowdown = s.gpio_slowdown
        options.scan_mode = s.scan_mode
        options.multiplexing = s.multiplexing
        options.row_address_type = s.row_address_type
        options.led_rgb_sequence = s.led_rgb_sequence
        if s.panel_type:
            options.panel_type = s.panel_type
        options.disable_hardware_pulsing = s.disable_hardware_pulsing
        options.brightness = 100
        options.drop_privileges = False
        return options

    def _open(self) -> None:
        try:
            matrix = self._module.RGBMatrix(options=self.options())
            if hasattr(matrix, "luminanceCorrect"):
                matrix.luminanceCorrect = False
            matrix.brightness = 100
            self._canvas = matrix.CreateFrameCanvas()
        except (OSError, RuntimeError, ValueError) as err:
            raise DriverIOError(
                f"cannot start the HUB75 matrix ({err}); it needs root (or CAP_SYS_RAWIO) "
                "and a free GPIO: stop other users of the panel and check hardware_mapping"
            ) from err
        self._matrix = matrix

    def _close(self) -> None:
        matrix, self._matrix, self._canvas = self._matrix, None, None
        if matrix is not None:
            matrix.Clear()

    def canvas_pixels(self, frame: OutputFrame) -> npt.NDArray[np.uint8]:
        """The library canvas for a chain-layout frame."""
        pixels = frame.pixels.reshape(-1, 3)
        if not self._identity:
            pixels = pixels[self._index]
        return np.ascontiguousarray(pixels.reshape(self._canvas_shape))

    def show(self, frame: OutputFrame) -> None:
        self._check(frame)
        if self._matrix is None:
            raise DriverIOError("the HUB75 output is not open: call open() first")
        if frame.pixels.size != self._index.size * 3:
            raise DriverConfigError(
                f"frame {frame.pixels.shape} does not fit the HUB75 canvas {self._canvas_shape}"
            )
        image = Image.fromarray(self.canvas_pixels(frame), "RGB")
        self._canvas.SetImage(image, 0, 0)
        self._canvas = self._matrix.SwapOnVSync(self._canvas)
        self.frames_shown += 1
