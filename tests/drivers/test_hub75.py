"""HUB75 through a faithful fake of the ``rgbmatrix`` bindings, and RGBMatrixEmulator."""

from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from lightbox.drivers import DriverConfigError, DriverIOError
from lightbox.drivers.hub75 import Hub75Output, hub75_canvas_map
from lightbox.protocol.settings import Hub75Driver, MatrixSettings
from tests.drivers.helpers import numbered, output_frame


def fake_rgbmatrix() -> types.ModuleType:
    """``rgbmatrix`` as LightBox uses it: options reject unknown attributes (like the Cython
    class), canvases are double-buffered, SetImage needs an RGB Pillow image."""
    module = types.ModuleType("rgbmatrix")
    module.matrices = []  # type: ignore[attr-defined]

    class RGBMatrixOptions:
        __slots__ = (
            "brightness",
            "chain_length",
            "cols",
            "disable_hardware_pulsing",
            "drop_privileges",
            "gpio_slowdown",
            "hardware_mapping",
            "led_rgb_sequence",
            "limit_refresh_rate_hz",
            "multiplexing",
            "panel_type",
            "parallel",
            "pixel_mapper_config",
            "pwm_bits",
            "pwm_dither_bits",
            "pwm_lsb_nanoseconds",
            "row_address_type",
            "rows",
            "scan_mode",
            "show_refresh_rate",
        )

        def __init__(self) -> None:
            self.rows, self.cols, self.chain_length, self.parallel = 32, 32, 1, 1
            self.hardware_mapping, self.brightness, self.drop_privileges = "regular", 100, True
            self.led_rgb_sequence, self.panel_type, self.pixel_mapper_config = "RGB", "", ""

    class FrameCanvas:
        def __init__(self, width: int, height: int) -> None:
            self.width, self.height = width, height
            self.pixels = np.zeros((height, width, 3), np.uint8)

        def SetImage(
            self, image: Image.Image, offset_x: int = 0, offset_y: int = 0, unsafe: bool = True
        ) -> None:
            if image.mode != "RGB":
                raise Exception("Currently, only RGB mode is supported for SetImage()")
            data = np.asarray(image)
            h = min(image.height, self.height - offset_y)
            w = min(image.width, self.width - offset_x)
            self.pixels[offset_y : offset_y + h, offset_x : offset_x + w] = data[:h, :w]

        def SetPixel(self, x: int, y: int, red: int, green: int, blue: int) -> None:
            self.pixels[y, x] = (red, green, blue)

        def Clear(self) -> None:
            self.pixels[...] = 0

    class RGBMatrix:
        def __init__(
            self,
            rows: int = 0,
            chains: int = 0,
            parallel: int = 0,
            *,
            options: RGBMatrixOptions | None = None,
        ) -> None:
            assert options is not None
            self.options = options
            self.width = options.cols * options.chain_length
            self.height = options.rows * options.parallel
            self.luminanceCorrect = True
            self.brightness = options.brightness
            self.front = FrameCanvas(self.width, self.height)
            self.shown: list[np.ndarray] = []
            self.cleared = 0
            module.matrices.append(self)

        def CreateFrameCanvas(self) -> FrameCanvas:
            return FrameCanvas(self.width, self.height)

        def SwapOnVSync(self, canvas: FrameCanvas, framerate_fraction: int = 1) -> FrameCanvas:
            previous, self.front = self.front, canvas
            self.shown.append(canvas.pixels.copy())
            return previous

        def Clear(self) -> None:
            self.cleared += 1
            self.front.Clear()

    module.RGBMatrixOptions = RGBMatrixOptions  # type: ignore[attr-defined]
    module.RGBMatrix = RGBMatrix  # type: ignore[attr-defined]
    return module


# Four 16x8 panels, two parallel chains of two, mounted as a 2x2 grid chained in rows.
MATRIX = MatrixSettings(width=32, height=16, panel_width=16, panel_height=8)
SETTINGS = Hub75Driver(
    rows=8,
    cols=16,
    chain_length=2,
    parallel=2,
    hardware_mapping="adafruit-hat",
    pwm_bits=8,
    gpio_slowdown=4,
    led_rgb_sequence="RBG",
    panel_type="FM6126A",
)


def expected_canvas(frame: np.ndarray) -> np.ndarray:
    """Chain panel k -> parallel k // 2, and x = 0 is the panel farthest from the Pi."""
    a, b = frame[:8, :16], frame[:8, 16:]  # panels 0, 1: parallel chain 0
    c, d = frame[8:, :16], frame[8:, 16:]  # panels 2, 3: parallel chain 1
    return np.concatenate([np.concatenate([b, a], axis=1), np.concatenate([d, c], axis=1)])


def test_options_and_frames_through_the_fake() -> None:
    module = fake_rgbmatrix()
    frame = numbered(32, 16)
    with Hub75Output(SETTINGS, MATRIX, module=module) as driver:
        matrix: Any = module.matrices[0]
        options = matrix.options
        assert (options.rows, options.cols, options.chain_length, options.parallel) == (8, 16, 2, 2)
        assert options.hardware_mapping == "adafruit-hat"
        assert (options.pwm_bits, options.pwm_lsb_nanoseconds, options.gpio_slowdown) == (8, 130, 4)
        assert (options.scan_mode, options.multiplexing, options.row_address_type) == (0, 0, 0)
        assert options.led_rgb_sequence == "RBG"
        assert options.panel_type == "FM6126A"
        assert options.brightness == 100
        assert options.drop_privileges is False
        assert options.disable_hardware_pulsing is False
        assert matrix.luminanceCorrect is False  # our gamma only
        driver.show(output_frame(MATRIX, "chain", frame))
        driver.show(output_frame(MATRIX, "chain", frame[::-1].copy()))
        assert len(matrix.shown) == 2
        assert np.array_equal(matrix.shown[0], expected_canvas(frame))
        assert np.array_equal(matrix.shown[1], expected_canvas(frame[::-1]))
        assert driver.frames_shown == 2
    assert matrix.cleared == 1


def test_canvas_map_single_panel_is_identity() -> None:
    index = hub75_canvas_map(Hub75Driver(rows=16, cols=32))
    assert np.array_equal(index.reshape(-1), np.arange(16 * 32))


def test_geometry_mismatch_is_explained() -> None:
    module = fake_rgbmatrix()
    with pytest.raises(DriverConfigError, match="cols=64 rows=32"):
        Hub75Output(Hub75Driver(), MATRIX, module=module)
    with pytest.raises(DriverConfigError, match="4 panels but chain_length x parallel is 2 x 1"):
        Hub75Output(Hub75Driver(rows=8, cols=16, chain_length=2), MATRIX, module=module)


def test_start_failure_and_show_before_open() -> None:
    module = fake_rgbmatrix()
    driver = Hub75Output(SETTINGS, MATRIX, module=module)
    with pytest.raises(DriverIOError, match="not open"):
        driver.show(output_frame(MATRIX, "chain"))

    def refuse(**kwargs: object) -> None:
        raise RuntimeError("must run as root")

    module.RGBMatrix = refuse  # type: ignore[attr-defined]
    with pytest.raises(DriverIOError, match="needs root") as info:
        driver.open()
    assert isinstance(info.value.__cause__, RuntimeError)


def test_with_rgbmatrixemulator_raw_adapter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # RGBMatrixEmulator reads (or writes) emulator_config.json in the working directory.
    config = {
        "pixel_outline": 0,
        "pixel_size": 1,
        "pixel_style": "square",
        "pixel_glow": 0,
        "display_adapter": "raw",
        "allow_adapter_fallback": False,
        "log_level": "error",
    }
    (tmp_path / "emulator_config.json").write_text(json.dumps(config))
    monkeypatch.chdir(tmp_path)
    emulator = pytest.importorskip("RGBMatrixEmulator")
    frame = numbered(32, 16)
    with Hub75Output(SETTINGS, MATRIX, module=emulator) as driver:
        driver.show(output_frame(MATRIX, "chain", frame))
        adapter = driver._canvas.display_adapter
        shown = np.asarray(adapter.frames[adapter.frame - 1])
    assert shown.shape[:2] == (16, 32)
    assert np.array_equal(shown[..., :3], expected_canvas(frame))
