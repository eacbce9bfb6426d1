"""The emulator: keeps the frame shown right now, for PNG snapshots and live views.

The render thread calls :meth:`EmulatorOutput.show`; any number of asyncio consumers (the
live view, the local API's preview socket) wait in :meth:`EmulatorOutput.next_frame`. A
waiting consumer is woken through ``loop.call_soon_threadsafe`` on its own loop and always
receives the *latest* frame: a slow viewer skips frames, nothing queues up.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import threading
from pathlib import Path
from typing import ClassVar

import numpy as np
import numpy.typing as npt
from PIL import Image

from lightbox.drivers.base import Driver, DriverConfigError
from lightbox.protocol.settings import EmulatorDriver, MatrixSettings
from lightbox.render.output import Layout, OutputFrame

__all__ = ["EmulatorOutput"]

Pixels = npt.NDArray[np.uint8]


class EmulatorOutput(Driver):
    """An in-memory matrix. Frames handed out are read-only; do not modify them."""

    layout: ClassVar[Layout] = "canvas"

    def __init__(
        self, settings: EmulatorDriver | None = None, matrix: MatrixSettings | None = None
    ) -> None:
        super().__init__()
        self.settings = settings or EmulatorDriver()
        self.matrix = matrix or MatrixSettings()
        self._lock = threading.Lock()
        self._frame: Pixels | None = None
        self._seq = 0
        self._waiters: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}

    @property
    def sequence(self) -> int:
        """Number of the frame shown right now (0: none yet)."""
        return self._seq

    def show(self, frame: OutputFrame) -> None:
        self._check(frame)
        pixels = np.array(frame.pixels, dtype=np.uint8, copy=True)
        if pixels.shape != (self.matrix.height, self.matrix.width, 3):
            raise DriverConfigError(
                f"frame {pixels.shape} does not match the emulated "
                f"{self.matrix.width}x{self.matrix.height} matrix"
            )
        pixels.setflags(write=False)
        with self._lock:
            self._frame = pixels
            self._seq += 1
            self.frames_shown += 1
            waiters, self._waiters = self._waiters, {}
        for loop, futures in waiters.items():
            # A closed loop raises RuntimeError; its waiters are gone with it.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_wake, futures)

    def latest(self) -> tuple[int, Pixels | None]:
        """``(sequence, frame)`` of the frame shown right now."""
        with self._lock:
            return self._seq, self._frame

    def snapshot(self) -> Pixels | None:
        """The frame shown right now (read-only), or None before the first frame."""
        return self.latest()[1]

    async def next_frame(self, after_seq: int = 0) -> tuple[int, Pixels]:
        """Wait for a frame newer than ``after_seq``; return the latest one and its number."""
        loop = asyncio.get_running_loop()
        while True:
            with self._lock:
                if self._seq > after_seq and self._frame is not None:
                    return self._seq, self._frame
                future: asyncio.Future[None] = loop.create_future()
                self._waiters.setdefault(loop, []).append(future)
            try:
                await future
            finally:
                with self._lock:  # cancelled: unregister (a woken future is gone already)
                    pending = self._waiters.get(loop)
                    if pending is not None and future in pending:
                        pending.remove(future)
                        if not pending:
                            del self._waiters[loop]

    def _blank(self) -> Pixels:
        return np.zeros((self.matrix.height, self.matrix.width, 3), dtype=np.uint8)

    def image(self, scale: int = 1) -> Image.Image:
        """The frame shown right now as a Pillow image (black before the first frame)."""
        frame = self.snapshot()
        image = Image.fromarray(frame if frame is not None else self._blank(), "RGB")
        if scale > 1:
            image = image.resize(
                (image.width * scale, image.height * scale), Image.Resampling.NEAREST
            )
        return image

    def png(self, scale: int = 1) -> bytes:
        """A PNG of the frame shown right now, each pixel ``scale`` x ``scale``."""
        buffer = io.BytesIO()
        self.image(scale).save(buffer, format="PNG")
        return buffer.getvalue()

    def save_png(self, path: str | Path, scale: int = 1) -> None:
        Path(path).write_bytes(self.png(scale))


def _wake(futures: list[asyncio.Future[None]]) -> None:
    for future in futures:
        if not future.done():
            future.set_result(None)
