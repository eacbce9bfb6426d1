"""A small HTTP proxy in front of the S3 server that injects faults.

Each request gets its own upstream connection (``Connection: close``); the proxy can
answer HTTP 500 to every second request, or cut the response after a random number of
bytes. It counts the response bytes it passed on, so tests can bound what was fetched.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass


@dataclass
class ProxyStats:
    requests: int = 0
    errors_injected: int = 0
    cuts_injected: int = 0
    body_bytes: int = 0


class FaultProxy:
    def __init__(
        self,
        upstream_port: int,
        *,
        fail_every_second: bool = False,
        cut_range: tuple[int, int] | None = None,
        max_cuts: int = 1_000,
        rng: random.Random | None = None,
    ) -> None:
        self.upstream_port = upstream_port
        self.fail_every_second = fail_every_second
        self.cut_range = cut_range
        self.max_cuts = max_cuts
        self.rng = rng or random.Random()
        self.stats = ProxyStats()
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> FaultProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        self.stats.requests += 1
        try:
            if self.fail_every_second and self.stats.requests % 2 == 0:
                self.stats.errors_injected += 1
                writer.write(
                    b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n"
                    b"Connection: close\r\n\r\n"
                )
                await writer.drain()
                return
            await self._forward(head, writer)
        finally:
            with contextlib.suppress(ConnectionError):
                writer.close()
                await writer.wait_closed()

    async def _forward(self, head: bytes, writer: asyncio.StreamWriter) -> None:
        lines = head.decode("latin-1").split("\r\n")
        kept = [ln for ln in lines[1:] if ln and not ln.lower().startswith("connection:")]
        request = "\r\n".join([lines[0], *kept, "Connection: close", "", ""]).encode("latin-1")
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        budget = None
        if self.cut_range and self.stats.cuts_injected < self.max_cuts:
            budget = self.rng.randint(*self.cut_range)
        try:
            up_writer.write(request)
            await up_writer.drain()
            response_head = await up_reader.readuntil(b"\r\n\r\n")
            writer.write(response_head)
            while chunk := await up_reader.read(16384):
                if budget is not None and len(chunk) >= budget:
                    writer.write(chunk[:budget])
                    self.stats.body_bytes += budget
                    self.stats.cuts_injected += 1
                    await writer.drain()
                    return  # the connection closes mid-body (before Content-Length)
                if budget is not None:
                    budget -= len(chunk)
                writer.write(chunk)
                self.stats.body_bytes += len(chunk)
                await writer.drain()
        finally:
            up_writer.close()
