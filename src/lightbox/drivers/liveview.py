"""A small standalone live view of an :class:`EmulatorOutput`, served with ``websockets``.

Used by the demo before the full LightBox service exists::

    GET /            the live view page (src/lightbox/web/liveview.html)
    GET /frame.png   a PNG of the frame shown right now (``?scale=N`` for bigger pixels)
    WS  /ws          binary frames: 4-byte header (width, height: uint16 big-endian) then
                     width * height * 3 bytes of RGB, row-major; at most ``fps`` per second,
                     always the latest frame (slow viewers skip frames)
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import logging
import struct
import time
from importlib import resources
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from lightbox.drivers.emulator import EmulatorOutput

__all__ = ["FRAME_HEADER", "LiveViewServer", "encode_frame", "liveview_html"]

log = logging.getLogger(__name__)

FRAME_HEADER = struct.Struct(">HH")


def encode_frame(pixels: bytes, width: int, height: int) -> bytes:
    return FRAME_HEADER.pack(width, height) + pixels


def liveview_html() -> bytes:
    return resources.files("lightbox").joinpath("web", "liveview.html").read_bytes()


def _response(status: http.HTTPStatus, body: bytes, content_type: str) -> Response:
    headers = Headers(
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            ("Connection", "close"),
        ]
    )
    return Response(status.value, status.phrase, headers, body)


class LiveViewServer:
    """Serves the live view of ``emulator`` on ``host:port`` (port 0: any free port)."""

    def __init__(
        self,
        emulator: EmulatorOutput,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        fps: float = 60.0,
    ) -> None:
        self.emulator = emulator
        self.host = host
        self.port = port
        self.fps = fps
        self._server: Server | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the live view server is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    async def start(self) -> None:
        if self._server is not None:
            return
        self._server = await serve(
            self._stream,
            self.host,
            self.port,
            process_request=self._http,
            max_size=2**16,
        )
        sockets = list(self._server.sockets)
        self.port = sockets[0].getsockname()[1]
        log.info("live view on %s", self.url)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()

    async def _http(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        if url.path == "/ws":
            return None  # go on with the WebSocket handshake
        if url.path in ("/", "/index.html"):
            return _response(http.HTTPStatus.OK, liveview_html(), "text/html; charset=utf-8")
        if url.path == "/frame.png":
            try:
                scale = int(parse_qs(url.query).get("scale", ["1"])[0])
            except ValueError:
                scale = 0
            if not 1 <= scale <= 32:
                return _response(
                    http.HTTPStatus.BAD_REQUEST, b"scale must be 1..32\n", "text/plain"
                )
            png = await asyncio.to_thread(self.emulator.png, scale)
            return _response(http.HTTPStatus.OK, png, "image/png")
        return _response(http.HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")

    async def _stream(self, connection: ServerConnection) -> None:
        interval = 1.0 / self.fps if self.fps > 0 else 0.0
        seq = 0
        closed = asyncio.ensure_future(connection.wait_closed())
        try:
            while True:
                waiting = asyncio.ensure_future(self.emulator.next_frame(seq))
                await asyncio.wait({waiting, closed}, return_when=asyncio.FIRST_COMPLETED)
                if not waiting.done():  # the viewer went away while we waited
                    waiting.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await waiting
                    return
                seq, pixels = waiting.result()
                height, width = pixels.shape[:2]
                started = time.monotonic()
                await connection.send(encode_frame(pixels.tobytes(), width, height))
                rest = interval - (time.monotonic() - started)
                if rest > 0:
                    await asyncio.sleep(rest)
        except ConnectionClosed:
            return
        finally:
            closed.cancel()
