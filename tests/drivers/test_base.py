"""The driver interface, the registry and the null driver."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import lightbox.drivers as drivers
from lightbox.drivers import DriverConfigError, DriverError, DriverUnavailableError, create_driver
from lightbox.drivers.ddp import DdpOutput
from lightbox.drivers.e131 import E131Output
from lightbox.drivers.emulator import EmulatorOutput
from lightbox.drivers.null import NullOutput
from lightbox.drivers.terminal import TerminalOutput
from lightbox.protocol.settings import (
    DdpDriver,
    E131Driver,
    EmulatorDriver,
    Hub75Driver,
    MatrixSettings,
    NullDriver,
    TerminalDriver,
    Ws281xDriver,
)
from tests.drivers.helpers import output_frame

MATRIX = MatrixSettings(width=8, height=4)


def test_all_is_complete() -> None:
    for name in drivers.__all__:
        assert hasattr(drivers, name)
    assert issubclass(DriverUnavailableError, DriverError)
    assert issubclass(DriverConfigError, DriverError)


@pytest.mark.parametrize(
    ("settings", "kind", "layout"),
    [
        (EmulatorDriver(), EmulatorOutput, "canvas"),
        (TerminalDriver(), TerminalOutput, "canvas"),
        (NullDriver(), NullOutput, "canvas"),
        (DdpDriver(host="127.0.0.1"), DdpOutput, "strip"),
        (E131Driver(host="127.0.0.1"), E131Output, "strip"),
    ],
)
def test_create_driver(settings: object, kind: type, layout: str) -> None:
    driver = create_driver(settings, MATRIX)  # type: ignore[arg-type]
    assert isinstance(driver, kind)
    assert driver.layout == layout
    assert not driver.is_open


@pytest.mark.parametrize(
    ("settings", "module", "hint"),
    [
        (Hub75Driver(rows=8, cols=16), "rgbmatrix", "rpi-rgb-led-matrix"),
        (Ws281xDriver(), "rpi_ws281x", "pip install"),
    ],
)
def test_missing_hardware_module_says_what_to_install(
    settings: object, module: str, hint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes the import fail
    matrix = MatrixSettings(width=16, height=8)
    with pytest.raises(DriverUnavailableError, match=hint) as info:
        create_driver(settings, matrix)  # type: ignore[arg-type]
    assert isinstance(info.value.__cause__, ImportError)
    assert "docs/drivers.md" in str(info.value)


def test_null_driver_counts_and_context_manager() -> None:
    with NullOutput() as null:
        assert null.is_open
        for _ in range(3):
            null.show(output_frame(MATRIX, "canvas"))
        null.open()  # idempotent
    assert null.frames_shown == 3
    assert null.last_estimated_ma > 0
    assert not null.is_open
    null.close()  # idempotent


def test_wrong_layout_is_a_clear_error() -> None:
    emulator = EmulatorOutput(matrix=MATRIX)
    with pytest.raises(DriverConfigError, match="needs 'canvas' frames, got 'strip'"):
        emulator.show(output_frame(MATRIX, "strip"))
    assert emulator.snapshot() is None
    assert np.array_equal(emulator.image().getpixel((0, 0)), (0, 0, 0))
