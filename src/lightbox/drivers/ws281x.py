"""WS281x/SK6812 LED grids through ``rpi_ws281x`` (jgarff's library, PWM/PCM/SPI + DMA).

Frames come in strip layout, already gamma-encoded and **already in the LEDs' wire colour
order** (``output.color_order``, e.g. ``GRB`` for WS2812). So the strip is opened with the
library's *identity* order (``WS2811_STRIP_RGB``, or ``SK6812_STRIP_RGBW`` for RGBW LEDs)
and pixel channels are packed as they are: ``c0 << 16 | c1 << 8 | c2`` (white = 0). The
library then sends c0, c1, c2 (, w) on the wire; nothing is reordered twice. Its own
brightness stays at 255 and its gamma table at identity.

Packing is vectorised into a ``uint32`` array; the only Python loop is one
``setPixelColor`` per LED that changed since the last frame. That loop is bounded by what
the hardware can refresh anyway: a WS2812 takes 30 us per LED, so one channel drives about
550 LEDs at 60 fps (800 at 40 fps).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from lightbox.drivers.base import (
    Driver,
    DriverConfigError,
    DriverIOError,
    DriverUnavailableError,
)
from lightbox.protocol.settings import Ws281xDriver
from lightbox.render.output import Layout, OutputFrame

__all__ = ["Ws281xOutput", "load_rpi_ws281x", "pack_colors"]

INSTALL_HINT = (
    "the rpi_ws281x module is not installed: on the Pi run "
    "`pip install 'lightbox[hw]'` (or `pip install rpi_ws281x`) in LightBox's virtualenv "
    "(see docs/drivers.md)"
)

IDENTITY_STRIP_TYPE = {
    "WS2811": "WS2811_STRIP_RGB",
    "WS2812": "WS2811_STRIP_RGB",
    "SK6812": "WS2811_STRIP_RGB",
    "SK6812W": "SK6812_STRIP_RGBW",
}


def load_rpi_ws281x() -> ModuleType:
    try:
        return importlib.import_module("rpi_ws281x")
    except ImportError as err:
        raise DriverUnavailableError(INSTALL_HINT) from err


def pack_colors(pixels: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint32]:
    """``(N, 3)`` channels to ``c0 << 16 | c1 << 8 | c2`` (the library's ``Color()``)."""
    wide = pixels.astype(np.uint32)
    packed: npt.NDArray[np.uint32] = (
        (wide[:, 0] << np.uint32(16)) | (wide[:, 1] << np.uint32(8)) | wide[:, 2]
    )
    return packed


class Ws281xOutput(Driver):
    """Shows strip-layout frames on one ``rpi_ws281x`` channel."""

    layout: ClassVar[Layout] = "strip"

    def __init__(
        self, settings: Ws281xDriver, led_count: int, module: ModuleType | Any | None = None
    ) -> None:
        super().__init__()
        if led_count < 1:
            raise DriverConfigError("a WS281x strip needs at least one LED")
        self.settings = settings
        self.led_count = led_count
        self._module = module if module is not None else load_rpi_ws281x()
        self._strip: Any = None
        self._last: npt.NDArray[np.uint32] | None = None

    def _open(self) -> None:
        s = self.settings
        strip_type = getattr(self._module, IDENTITY_STRIP_TYPE[s.strip_type])
        try:
            strip = self._module.PixelStrip(
                self.led_count,
                s.gpio,
                s.frequency_hz,
                s.dma,
                s.invert,
                255,
                s.channel,
                strip_type,
            )
            strip.begin()
        except (RuntimeError, OSError) as err:
            raise DriverIOError(
                f"cannot start the WS281x strip on GPIO {s.gpio} ({err}): it needs root, a "
                "PWM/PCM/SPI-capable pin and the sound module off for PWM (docs/drivers.md)"
            ) from err
        self._strip = strip
        self._last = None

    def _close(self) -> None:
        strip, self._strip = self._strip, None
        if strip is None:
            return
        try:
            for n in range(self.led_count):
                strip.setPixelColor(n, 0)
            strip.show()
        except (RuntimeError, OSError):
            pass  # switching off on the way out is best effort
        finally:
            cleanup = getattr(strip, "_cleanup", None)
            if callable(cleanup):
                cleanup()

    def show(self, frame: OutputFrame) -> None:
        self._check(frame)
        if self._strip is None:
            raise DriverIOError("the WS281x output is not open: call open() first")
        if frame.pixels.shape != (self.led_count, 3):
            raise DriverConfigError(
                f"frame of {frame.pixels.shape[0]} LEDs does not fit the strip of {self.led_count}"
            )
        packed = pack_colors(frame.pixels)
        if self._last is None:
            changed = np.arange(self.led_count)
        else:
            changed = np.flatnonzero(packed != self._last)
        strip = self._strip
        try:
            for n, color in zip(changed.tolist(), packed[changed].tolist(), strict=True):
                strip.setPixelColor(n, color)
            strip.show()
        except (RuntimeError, OSError) as err:
            raise DriverIOError(f"WS281x show failed: {err}") from err
        self._last = packed
        self.frames_shown += 1
