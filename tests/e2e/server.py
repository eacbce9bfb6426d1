"""A real LightBox for end-to-end tests, run in a background thread.

The whole edge stack short of MQTT: the SQLite store, the media library, the service with
its render loop (``null`` driver, 32x16), the FastAPI app and uvicorn on a free port, with
the web app mounted at ``/``. Tests drive it from a browser and check what reached the
service (``server.service.state``) directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from lightbox.edge.api.app import create_app
from lightbox.edge.api.static import mount_web_app
from lightbox.edge.media import MediaLibrary
from lightbox.edge.service import LightBoxService
from lightbox.edge.store import Store
from lightbox.protocol import Settings, State
from lightbox.protocol.settings import MatrixSettings, NullDriver

START_TIMEOUT_S = 20.0


def serves_web_app(app: FastAPI) -> bool:
    """Whether ``create_app`` already mounted the web app (then we must not do it again)."""
    return any(getattr(route, "path", None) in ("/", "") for route in app.router.routes)


class LightBoxServer:
    """``with LightBoxServer(tmp) as box:`` -> ``box.url``, ``box.token``, ``box.service``."""

    def __init__(
        self, data_dir: Path, *, width: int = 32, height: int = 16, name: str = "Test LightBox"
    ) -> None:
        self.data_dir = data_dir
        self.settings = Settings(
            name=name,
            matrix=MatrixSettings(width=width, height=height),
            driver=NullDriver(),
        )
        self.url = ""
        self.token = ""
        self.service: LightBoxService | None = None
        self.store: Store | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: uvicorn.Server | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="lightbox-e2e", daemon=True)

    def __enter__(self) -> LightBoxServer:
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise RuntimeError(f"the LightBox did not start within {START_TIMEOUT_S} s")
        if self._error is not None:
            raise RuntimeError("the LightBox did not start") from self._error
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(setattr, self._server, "should_exit", True)
        self._thread.join(15)

    def call(self, coro_fn, *args, timeout: float = 10.0):  # type: ignore[no-untyped-def]
        """Run ``coro_fn(*args)`` on the server's event loop and return its result."""
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(coro_fn(*args), self._loop)
        return future.result(timeout)

    @property
    def state(self) -> State:
        assert self.service is not None
        return self.service.state

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as err:  # reported to the test thread
            self._error = err
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        store = await asyncio.to_thread(Store.open, self.data_dir / "lightbox.db")
        self.store = store
        with store.transaction() as tx:
            tx.save_settings(self.settings)
            _, self.token = tx.create_token("e2e")
        media = MediaLibrary(self.data_dir / "media", store)
        service = LightBoxService(
            store=store, media=media, device_id="e2e-box", settings=self.settings, state=State()
        )
        self.service = service
        await service.start()
        try:
            app = create_app(service)
            if not serves_web_app(app):
                mount_web_app(app)
            server = uvicorn.Server(
                uvicorn.Config(
                    app,
                    host="127.0.0.1",
                    port=0,
                    log_config=None,
                    access_log=False,
                    lifespan="off",
                    ws="websockets-sansio",
                )
            )
            server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
            self._server = server
            task = asyncio.create_task(server.serve())
            while not server.started:
                if task.done():
                    await task  # raises the bind error
                await asyncio.sleep(0.02)
            port = server.servers[0].sockets[0].getsockname()[1]
            self.url = f"http://127.0.0.1:{port}"
            self._ready.set()
            await task
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(service.stop(), 10)
            await asyncio.to_thread(store.close)


@contextlib.contextmanager
def running_lightbox(data_dir: Path) -> Iterator[LightBoxServer]:
    with LightBoxServer(data_dir) as box:
        yield box
