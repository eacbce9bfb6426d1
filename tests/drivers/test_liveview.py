"""The standalone live view, served for real on 127.0.0.1 and read with real clients."""

from __future__ import annotations

import asyncio
import io
import struct
from collections.abc import AsyncIterator

import httpx
import numpy as np
import pytest
from PIL import Image
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from lightbox.drivers.emulator import EmulatorOutput
from lightbox.drivers.liveview import LiveViewServer
from lightbox.protocol.settings import MatrixSettings
from tests.drivers.helpers import numbered, output_frame

MATRIX = MatrixSettings(width=12, height=6)


@pytest.fixture
async def server() -> AsyncIterator[LiveViewServer]:
    live = LiveViewServer(EmulatorOutput(matrix=MATRIX), port=0, fps=100)
    await live.start()
    yield live
    await live.stop()


def decode(message: bytes) -> np.ndarray:
    width, height = struct.unpack(">HH", message[:4])
    assert len(message) == 4 + width * height * 3
    return np.frombuffer(message[4:], np.uint8).reshape(height, width, 3)


async def test_page_and_png(server: LiveViewServer) -> None:
    assert server.url.startswith("http://127.0.0.1:")
    assert server.port != 0
    frame = numbered(12, 6)
    server.emulator.show(output_frame(MATRIX, "canvas", frame))
    async with httpx.AsyncClient(base_url=server.url) as client:
        page = await client.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "new WebSocket" in page.text
        assert "/ws" in page.text
        png = await client.get("/frame.png")
        assert png.headers["content-type"] == "image/png"
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(png.content)).convert("RGB")), frame)
        big = await client.get("/frame.png", params={"scale": 4})
        assert Image.open(io.BytesIO(big.content)).size == (48, 24)
        assert (await client.get("/frame.png", params={"scale": "x"})).status_code == 400
        assert (await client.get("/nope")).status_code == 404


async def test_websocket_streams_the_latest_frames(server: LiveViewServer) -> None:
    first = numbered(12, 6)
    server.emulator.show(output_frame(MATRIX, "canvas", first))
    async with connect(server.url.replace("http", "ws") + "ws") as ws:
        message = await asyncio.wait_for(ws.recv(), 5)
        assert isinstance(message, bytes)
        assert np.array_equal(decode(message), first)
        second = np.full((6, 12, 3), 77, np.uint8)
        await asyncio.to_thread(server.emulator.show, output_frame(MATRIX, "canvas", second))
        message = await asyncio.wait_for(ws.recv(), 5)
        assert isinstance(message, bytes)
        assert np.array_equal(decode(message), second)
        snapshot = server.emulator.snapshot()
        assert snapshot is not None
        assert message[4:] == snapshot.tobytes()


async def test_stop_with_a_waiting_viewer() -> None:
    live = LiveViewServer(EmulatorOutput(matrix=MATRIX))
    await live.start()
    async with connect(live.url.replace("http", "ws") + "ws") as ws:
        await asyncio.sleep(0.05)  # the handler now waits for a first frame
        await asyncio.wait_for(live.stop(), 5)
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
    with pytest.raises(RuntimeError, match="not started"):
        _ = live.url
