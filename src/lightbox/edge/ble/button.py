"""A push button that authorizes Improv provisioning (a person is in front of the LightBox).

The interface is :class:`Button` (one coroutine: wait for the next press). The real one,
:class:`GpioButton`, reads a GPIO line through the libgpiod v2 Python bindings (``gpiod``
on PyPI, imported only when a button is configured). Wiring: a momentary switch between
the GPIO pin and ground; the line is requested with the internal pull-up, active low.

Exceptions::

    ButtonError    no gpiod module, no such chip or line, or the line is busy
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from datetime import timedelta
from typing import Any, Protocol

log = logging.getLogger(__name__)


class ButtonError(Exception):
    """The button cannot be used; the message says what to check."""


class Button(Protocol):
    async def wait_pressed(self) -> None:
        """Return at the next press."""

    def close(self) -> None:
        """Release the hardware."""


def parse_button_spec(spec: str) -> tuple[str, int | str]:
    """``"17"``, ``"GPIO17"`` or ``"gpiochip4:17"`` -> (chip path, line offset or name)."""
    chip, _, line = spec.rpartition(":")
    chip = chip or "gpiochip0"
    if not chip.startswith("/"):
        chip = f"/dev/{chip}"
    if not line:
        raise ButtonError(f"no GPIO line in {spec!r}: use e.g. 17, GPIO17 or gpiochip0:17")
    return chip, int(line) if line.isdigit() else line


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class GpioButton:
    """A button on a GPIO line (edge events through libgpiod v2, read on the event loop)."""

    def __init__(self, spec: str, debounce: float = 0.05, active_low: bool = True) -> None:
        self.chip, self.line = parse_button_spec(spec)
        self.debounce = debounce
        self.active_low = active_low
        self._request: Any = None

    def open(self) -> None:
        try:
            gpiod: Any = importlib.import_module("gpiod")
            line_mod: Any = importlib.import_module("gpiod.line")
        except ImportError as err:
            raise ButtonError(
                "the gpiod module (libgpiod v2 bindings) is missing: pip install gpiod"
            ) from err
        settings = gpiod.LineSettings(
            direction=line_mod.Direction.INPUT,
            edge_detection=line_mod.Edge.FALLING if self.active_low else line_mod.Edge.RISING,
            bias=line_mod.Bias.PULL_UP if self.active_low else line_mod.Bias.PULL_DOWN,
            debounce_period=timedelta(seconds=self.debounce),
        )
        try:
            self._request = gpiod.request_lines(
                self.chip, consumer="lightbox-improv", config={self.line: settings}
            )
        except (OSError, ValueError) as err:
            raise ButtonError(f"cannot use GPIO {self.chip}:{self.line}: {err}") from err
        log.info("authorization button on %s line %s", self.chip, self.line)

    async def wait_pressed(self) -> None:
        if self._request is None:
            self.open()
        request = self._request
        loop = asyncio.get_running_loop()
        while True:
            ready: asyncio.Future[None] = loop.create_future()
            fd = request.fd
            loop.add_reader(fd, _resolve, ready)
            try:
                await ready
            finally:
                loop.remove_reader(fd)
            if request.read_edge_events():
                return

    def close(self) -> None:
        if self._request is not None:
            self._request.release()
            self._request = None
