"""WS281x through a faithful fake of the ``rpi_ws281x`` module."""

from __future__ import annotations

import types
from typing import Any

import numpy as np
import pytest

from lightbox.drivers import DriverConfigError, DriverIOError, create_driver
from lightbox.drivers.ws281x import Ws281xOutput, pack_colors
from lightbox.protocol.settings import MatrixSettings, OutputSettings, Ws281xDriver
from lightbox.render.output import OutputStage


def fake_rpi_ws281x() -> types.ModuleType:
    """The parts of rpi_ws281x LightBox uses, with the real signatures and packing."""
    module = types.ModuleType("rpi_ws281x")
    module.WS2811_STRIP_RGB = 0x00100800  # type: ignore[attr-defined]
    module.WS2811_STRIP_GRB = 0x00081000  # type: ignore[attr-defined]
    module.SK6812_STRIP_RGBW = 0x18100800  # type: ignore[attr-defined]
    module.strips = []  # type: ignore[attr-defined]

    def color(red: int, green: int, blue: int, white: int = 0) -> int:
        return (white << 24) | (red << 16) | (green << 8) | blue

    class PixelStrip:
        def __init__(
            self,
            num: int,
            pin: int,
            freq_hz: int = 800000,
            dma: int = 10,
            invert: bool = False,
            brightness: int = 255,
            channel: int = 0,
            strip_type: int | None = None,
            gamma: list[int] | None = None,
        ) -> None:
            self.args = {
                "num": num,
                "pin": pin,
                "freq_hz": freq_hz,
                "dma": dma,
                "invert": invert,
                "brightness": brightness,
                "channel": channel,
                "strip_type": strip_type,
            }
            self.leds = [0] * num
            self.begun = False
            self.shown: list[list[int]] = []
            self.set_calls = 0
            module.strips.append(self)  # type: ignore[attr-defined]

        def begin(self) -> None:
            self.begun = True

        def setPixelColor(self, n: int, color: int) -> None:
            if not isinstance(n, int) or not isinstance(color, int):
                raise TypeError("setPixelColor takes ints")
            if not 0 <= n < len(self.leds):
                raise IndexError(n)
            self.leds[n] = color
            self.set_calls += 1

        def show(self) -> None:
            if not self.begun:
                raise RuntimeError("ws2811_render failed with code -1 (not initialised)")
            self.shown.append(list(self.leds))

        def numPixels(self) -> int:
            return len(self.leds)

    module.Color = color  # type: ignore[attr-defined]
    module.PixelStrip = PixelStrip  # type: ignore[attr-defined]
    return module


def test_pack_matches_the_library_color() -> None:
    module = fake_rpi_ws281x()
    pixels = np.random.default_rng(1).integers(0, 256, (50, 3), dtype=np.uint8)
    expected = [module.Color(*map(int, p)) for p in pixels]
    assert pack_colors(pixels).tolist() == expected


def test_strip_gets_wire_order_without_double_reordering() -> None:
    module = fake_rpi_ws281x()
    matrix = MatrixSettings(width=4, height=2, serpentine=True)
    stage = OutputStage(matrix, OutputSettings(color_order="GRB", gamma=1.0))
    settings = Ws281xDriver(gpio=12, dma=5, channel=0, strip_type="WS2812", invert=True)
    frame = np.zeros((2, 4, 3), np.uint8)
    frame[0, 0] = (255, 0, 0)  # red, first LED
    frame[1, 3] = (0, 0, 200)  # blue: second row runs back, so LED 4
    with Ws281xOutput(settings, matrix.pixel_count, module=module) as driver:
        driver.show(stage.process(frame, 255, "strip"))
        strip: Any = module.strips[0]  # type: ignore[attr-defined]
        assert strip.args == {
            "num": 8,
            "pin": 12,
            "freq_hz": 800000,
            "dma": 5,
            "invert": True,
            "brightness": 255,
            "channel": 0,
            "strip_type": module.WS2811_STRIP_RGB,
        }
        leds = strip.shown[-1]
        # GRB wire order packed as-is: red -> 0x00FF00 (G, R, B) in the "RGB" identity type.
        assert leds[0] == 0x00FF00
        assert leds[4] == 0x0000C8
        assert sum(1 for c in leds if c) == 2
        # Only changed LEDs are set again.
        calls = strip.set_calls
        driver.show(stage.process(frame, 255, "strip"))
        assert strip.set_calls == calls
        frame[0, 1] = (1, 2, 3)
        driver.show(stage.process(frame, 255, "strip"))
        assert strip.set_calls == calls + 1
        assert strip.shown[-1][1] == 0x020103
        assert driver.frames_shown == 3
    assert strip.shown[-1] == [0] * 8  # switched off on close


def test_rgbw_uses_the_rgbw_identity_type() -> None:
    module = fake_rpi_ws281x()
    with Ws281xOutput(Ws281xDriver(strip_type="SK6812W"), 4, module=module):
        assert module.strips[0].args["strip_type"] == module.SK6812_STRIP_RGBW  # type: ignore[attr-defined]


def test_errors() -> None:
    module = fake_rpi_ws281x()
    matrix = MatrixSettings(width=4, height=2)
    driver = Ws281xOutput(Ws281xDriver(), 8, module=module)
    stage = OutputStage(matrix, OutputSettings())
    with pytest.raises(DriverIOError, match="not open"):
        driver.show(stage.process(np.zeros((2, 4, 3), np.uint8), 255, "strip"))
    with driver, pytest.raises(DriverConfigError, match="does not fit the strip of 8"):
        driver.show(
            OutputStage(MatrixSettings(width=2, height=2), OutputSettings()).process(
                np.zeros((2, 2, 3), np.uint8), 255, "strip"
            )
        )

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("ws2811_init failed with code -5 (mmap() failed)")

    module.PixelStrip = broken  # type: ignore[attr-defined]
    with pytest.raises(DriverIOError, match="needs root") as info:
        Ws281xOutput(Ws281xDriver(), 8, module=module).open()
    assert isinstance(info.value.__cause__, RuntimeError)


def test_create_driver_uses_an_installed_module(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "rpi_ws281x", fake_rpi_ws281x())
    driver = create_driver(Ws281xDriver(), MatrixSettings(width=4, height=4))
    assert isinstance(driver, Ws281xOutput)
    assert driver.led_count == 16
