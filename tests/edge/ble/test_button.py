"""The GPIO button, with a fake ``gpiod`` module (libgpiod v2 API shape)."""

from __future__ import annotations

import asyncio
import os
import sys
import types
from typing import Any

import pytest

from lightbox.edge.ble import BleProvisioning, ButtonError, GpioButton
from lightbox.edge.ble.button import parse_button_spec
from lightbox.edge.ble.improv import State
from tests.edge.ble.fakes import FakeButton, FakeWifi, Recorder


class _FakeRequest:
    def __init__(self) -> None:
        self.fd, self._write = os.pipe()
        self.released = False

    def press(self) -> None:
        os.write(self._write, b"e")

    def read_edge_events(self) -> list[object]:
        data = os.read(self.fd, 64)
        return [object() for _ in data]

    def release(self) -> None:
        self.released = True
        os.close(self.fd)
        os.close(self._write)


@pytest.fixture
def fake_gpiod(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    gpiod = types.ModuleType("gpiod")
    line = types.ModuleType("gpiod.line")
    line.Direction = types.SimpleNamespace(INPUT="input")  # type: ignore[attr-defined]
    line.Edge = types.SimpleNamespace(FALLING="falling", RISING="rising")  # type: ignore[attr-defined]
    line.Bias = types.SimpleNamespace(PULL_UP="pull-up", PULL_DOWN="pull-down")  # type: ignore[attr-defined]

    def request_lines(path: str, consumer: str, config: dict[Any, Any]) -> _FakeRequest:
        if path != "/dev/gpiochip0":
            raise OSError(2, "No such file or directory")
        seen.update(path=path, consumer=consumer, config=config)
        seen["request"] = _FakeRequest()
        return seen["request"]  # type: ignore[no-any-return]

    gpiod.LineSettings = lambda **kw: kw  # type: ignore[attr-defined]
    gpiod.request_lines = request_lines  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "gpiod", gpiod)
    monkeypatch.setitem(sys.modules, "gpiod.line", line)
    return seen


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("17", ("/dev/gpiochip0", 17)),
        ("GPIO17", ("/dev/gpiochip0", "GPIO17")),
        ("gpiochip4:5", ("/dev/gpiochip4", 5)),
        ("/dev/gpiochip1:22", ("/dev/gpiochip1", 22)),
    ],
)
def test_specs(spec: str, expected: tuple[str, int | str]) -> None:
    assert parse_button_spec(spec) == expected


def test_spec_without_line() -> None:
    with pytest.raises(ButtonError, match="no GPIO line"):
        parse_button_spec("gpiochip0:")


async def test_gpio_button_reports_presses(fake_gpiod: dict[str, Any]) -> None:
    button = GpioButton("17")
    waiting = asyncio.create_task(button.wait_pressed())
    await asyncio.sleep(0.02)
    assert not waiting.done()
    settings = fake_gpiod["config"][17]
    assert settings["edge_detection"] == "falling"
    assert settings["bias"] == "pull-up"
    fake_gpiod["request"].press()
    await asyncio.wait_for(waiting, 2)
    button.close()
    assert fake_gpiod["request"].released


async def test_gpio_button_on_a_missing_chip(fake_gpiod: dict[str, Any]) -> None:
    with pytest.raises(ButtonError, match="gpiochip9"):
        await GpioButton("gpiochip9:3").wait_pressed()


async def test_without_gpiod(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gpiod", None)
    with pytest.raises(ButtonError, match="pip install gpiod"):
        GpioButton("17").open()


async def test_a_press_authorizes_through_the_facade() -> None:
    rec, button = Recorder(), FakeButton()
    ble = BleProvisioning(
        wifi=FakeWifi(),
        pairing_code=lambda: "P",
        version="1",
        device_name=rec.device_name,
        set_device_name=rec.set_device_name,
        identify=rec.identify,
        button=button,
        hardware="test",
    )
    await ble.provisioner.start()
    task = asyncio.create_task(ble._watch_button())
    try:
        assert ble.provisioner.state is State.AUTHORIZATION_REQUIRED
        button.press()
        for _ in range(100):
            await asyncio.sleep(0.01)
            if ble.provisioner.authorized:
                break
        assert ble.provisioner.authorized
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await ble.provisioner.stop()
