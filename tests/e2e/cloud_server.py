"""A local cloud with a registered LightBox, run in a background thread (for Playwright).

The same stack as the client tests (:func:`tests.client.stack.cloud_stack`: our own
dynsec Mosquitto, the cloud on SQLite, a LightBox with ``cloud_url``), on an event loop
of its own so that the synchronous Playwright API can drive a browser meanwhile.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from lightbox.protocol import State
from tests.client.stack import Stack, cloud_stack

START_TIMEOUT_S = 30.0
_T = TypeVar("_T")


class CloudServer:
    """``with CloudServer(tmp) as cloud:`` -> ``cloud.url``, ``cloud.claim_code()``,
    ``cloud.state`` (the LightBox service's own state)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.stack: Stack | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="cloud-e2e", daemon=True)

    @property
    def url(self) -> str:
        assert self.stack is not None
        return self.stack.cloud_url

    @property
    def device_id(self) -> str:
        assert self.stack is not None
        return self.stack.device_id

    @property
    def state(self) -> State:
        assert self.stack is not None and self.stack.runtime.service is not None
        return self.stack.runtime.service.state

    def call(self, work: Callable[[], Awaitable[_T]], timeout: float = 20.0) -> _T:
        """Run ``work()`` on the stack's loop; its result."""
        assert self._loop is not None

        async def wrapped() -> _T:
            return await work()

        return asyncio.run_coroutine_threadsafe(wrapped(), self._loop).result(timeout)

    def claim_code(self) -> str:
        assert self.stack is not None
        return self.call(self.stack.claim_code)

    def __enter__(self) -> CloudServer:
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise RuntimeError(f"the cloud stack did not start within {START_TIMEOUT_S} s")
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as err:  # reported to the test thread (a skip, too)
            self._error = err
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with cloud_stack(self.directory) as stack:
            self.stack = stack
            self._ready.set()
            await self._stop.wait()
