"""The driver interface: where an :class:`~lightbox.render.output.OutputFrame` leaves LightBox.

Exceptions (one tree for the package; third-party errors are translated with ``from``)::

    DriverError                  anything a driver raises
    ├── DriverUnavailableError   its module/hardware is missing (says what to install)
    ├── DriverConfigError        its settings do not fit the matrix
    └── DriverIOError            a socket or the hardware failed while opening or showing

A driver is opened once (``open`` is idempotent), then ``show`` is called from the render
thread for every frame; it may block for as long as the hardware takes. ``close`` releases
everything and may be called more than once. Drivers are context managers.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import ClassVar, Self

from lightbox.render.output import Layout, OutputFrame

__all__ = [
    "Driver",
    "DriverConfigError",
    "DriverError",
    "DriverIOError",
    "DriverUnavailableError",
]


class DriverError(Exception):
    """A driver failed; the message says what to do about it."""


class DriverUnavailableError(DriverError):
    """The driver's Python module or hardware is not available on this machine."""


class DriverConfigError(DriverError):
    """The driver's settings do not fit the matrix settings."""


class DriverIOError(DriverError):
    """Sending to the LEDs (GPIO, DMA, a socket) failed."""


class Driver(ABC):
    """Shows output frames. Subclasses implement :meth:`show` and optionally the hooks."""

    layout: ClassVar[Layout]
    """What the output stage should produce for this driver."""

    def __init__(self) -> None:
        self._is_open = False
        self.frames_shown = 0

    @property
    def is_open(self) -> bool:
        return self._is_open

    def open(self) -> None:
        """Acquire the hardware or sockets. Idempotent."""
        if not self._is_open:
            self._open()
            self._is_open = True

    def close(self) -> None:
        """Release everything. Idempotent."""
        if self._is_open:
            self._is_open = False
            self._close()

    @abstractmethod
    def show(self, frame: OutputFrame) -> None:
        """Show one frame (blocking)."""

    def _open(self) -> None:  # noqa: B027 - optional hook
        """Subclass hook for :meth:`open`."""

    def _close(self) -> None:  # noqa: B027 - optional hook
        """Subclass hook for :meth:`close`."""

    def _check(self, frame: OutputFrame) -> None:
        if frame.layout != self.layout:
            raise DriverConfigError(
                f"{type(self).__name__} needs {self.layout!r} frames, got {frame.layout!r}: "
                f"process frames with layout=driver.layout"
            )

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
