"""The frames the matrix shows, for ``frame.png`` and the WebSocket live preview.

:class:`FrameTap` listens to the render loop (on the render thread). It costs nothing while
no one watches: only while a watcher is open does it copy each canvas and wake the
watchers, which always get the *latest* frame (a slow watcher skips frames; nothing
queues up). The render loop is replaced when the driver or frame rate changes; the tap
follows the service's current loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import struct
import threading
from collections.abc import AsyncIterator

import numpy as np
from PIL import Image

from lightbox.edge.service import LightBoxService
from lightbox.engine.loop import RenderLoop
from lightbox.protocol import Unavailable
from lightbox.render.frame import Frame

PREVIEW_MAGIC = b"LB"
"""Binary preview frame: ``LB``, uint16 width, uint16 height (big-endian), then RGB bytes."""


class Watcher:
    """One consumer of frames; woken (from the render thread) when a new frame is there."""

    def __init__(self, tap: FrameTap) -> None:
        self._tap = tap
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()

    def _notify(self) -> None:  # render thread
        with contextlib.suppress(RuntimeError):  # the event loop has closed
            self._loop.call_soon_threadsafe(self._event.set)

    async def next(self, within_s: float) -> Frame:
        """The newest frame shown since the last call (waits for one); TimeoutError."""
        self._tap.attach()
        async with asyncio.timeout(within_s):
            await self._event.wait()
        self._event.clear()
        frame = self._tap.latest
        assert frame is not None
        return frame


class FrameTap:
    def __init__(self, service: LightBoxService) -> None:
        self._service = service
        self._attached: RenderLoop | None = None
        self._lock = threading.Lock()
        self._watchers: set[Watcher] = set()
        self._latest: Frame | None = None

    @property
    def latest(self) -> Frame | None:
        return self._latest

    def attach(self) -> None:
        """Listen to the service's current render loop (once per loop)."""
        try:
            loop = self._service.render_loop
        except RuntimeError:  # not started (yet)
            return
        with self._lock:
            if loop is self._attached:
                return
            self._attached = loop
        loop.add_frame_listener(self._on_frame)

    def _on_frame(self, number: int, canvas: Frame) -> None:  # render thread
        with self._lock:
            if not self._watchers:
                return
            watchers = list(self._watchers)
            self._latest = canvas.copy()
        for watcher in watchers:
            watcher._notify()

    @contextlib.asynccontextmanager
    async def watch(self) -> AsyncIterator[Watcher]:
        watcher = Watcher(self)
        with self._lock:
            self._watchers.add(watcher)
        self.attach()
        try:
            yield watcher
        finally:
            with self._lock:
                self._watchers.discard(watcher)

    async def snapshot(self, within_s: float = 3.0) -> Frame:
        """The next frame the matrix shows (within one frame period, normally)."""
        async with self.watch() as watcher:
            try:
                return await watcher.next(within_s)
            except TimeoutError as err:
                raise Unavailable(
                    f"the render loop showed no frame in {within_s:g} s; try again, and check "
                    "the LightBox log if this persists",
                    code="busy",
                ) from err


def encode_png(frame: Frame, scale: int) -> bytes:
    """PNG of ``frame``, each pixel a ``scale`` x ``scale`` block (nearest neighbour)."""
    if scale > 1:
        frame = np.repeat(np.repeat(frame, scale, axis=0), scale, axis=1)
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(frame), "RGB").save(buf, format="PNG", compress_level=3)
    return buf.getvalue()


def encode_preview(frame: Frame) -> bytes:
    """The binary WebSocket preview message for ``frame``."""
    height, width = frame.shape[0], frame.shape[1]
    return PREVIEW_MAGIC + struct.pack(">HH", width, height) + np.ascontiguousarray(frame).tobytes()
