"""Drivers: where output frames leave LightBox (see :mod:`lightbox.drivers.base`).

``create_driver(settings.driver, settings.matrix)`` builds the driver a user configured.
Hardware drivers import their third-party module lazily, so this package imports anywhere;
a missing module raises :class:`DriverUnavailableError` that says what to install.
"""

from __future__ import annotations

from lightbox.drivers.base import (
    Driver,
    DriverConfigError,
    DriverError,
    DriverIOError,
    DriverUnavailableError,
)
from lightbox.protocol.settings import (
    DdpDriver,
    DriverSettings,
    E131Driver,
    EmulatorDriver,
    Hub75Driver,
    MatrixSettings,
    NullDriver,
    TerminalDriver,
    Ws281xDriver,
)

__all__ = [
    "Driver",
    "DriverConfigError",
    "DriverError",
    "DriverIOError",
    "DriverUnavailableError",
    "create_driver",
]


def create_driver(settings: DriverSettings, matrix: MatrixSettings) -> Driver:
    """The driver for ``settings``, not yet opened."""
    if isinstance(settings, EmulatorDriver):
        from lightbox.drivers.emulator import EmulatorOutput

        return EmulatorOutput(settings, matrix)
    if isinstance(settings, TerminalDriver):
        from lightbox.drivers.terminal import TerminalOutput

        return TerminalOutput()
    if isinstance(settings, NullDriver):
        from lightbox.drivers.null import NullOutput

        return NullOutput()
    if isinstance(settings, Hub75Driver):
        from lightbox.drivers.hub75 import Hub75Output

        return Hub75Output(settings, matrix)
    if isinstance(settings, Ws281xDriver):
        from lightbox.drivers.ws281x import Ws281xOutput

        return Ws281xOutput(settings, matrix.pixel_count)
    if isinstance(settings, DdpDriver):
        from lightbox.drivers.ddp import DdpOutput

        return DdpOutput(settings)
    if isinstance(settings, E131Driver):
        from lightbox.drivers.e131 import E131Output

        return E131Output(settings, matrix.pixel_count)
    raise DriverConfigError(f"unknown driver settings {type(settings).__name__}")
