"""A real LightBox for the API tests: a service on a temporary data dir (null driver, a
16x8 matrix) behind a real uvicorn on a free port, with an API token.

``box`` runs in the test's event loop (async tests: httpx and WebSocket clients talk to it
over real sockets); ``threaded_box`` runs in a thread of its own, for synchronous clients
such as schemathesis.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from lightbox.edge.api import create_app
from lightbox.edge.media import MediaLibrary
from lightbox.edge.service import LightBoxService
from lightbox.edge.store import Store
from lightbox.protocol import MatrixSettings, OutputSettings, Settings, State
from lightbox.protocol.settings import NullDriver

WIDTH, HEIGHT = 16, 8
MAX_UPLOAD = 64 * 1024


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "schemathesis: property-based run against /openapi.json (bounded, ~30 s)"
    )


@dataclass
class Box:
    service: LightBoxService
    app: FastAPI
    url: str
    token: str
    data_dir: Path

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}

    def new_token(self, name: str = "extra") -> tuple[str, str]:
        with self.service.store.transaction() as tx:
            info, token = tx.create_token(name)
        return info.id, token


@contextlib.asynccontextmanager
async def running_box(data_dir: Path, *, max_upload_bytes: int = MAX_UPLOAD) -> AsyncIterator[Box]:
    store = await asyncio.to_thread(Store.open, data_dir / "lightbox.db")
    settings = Settings(
        name="Test box",
        driver=NullDriver(),
        matrix=MatrixSettings(width=WIDTH, height=HEIGHT),
        output=OutputSettings(fps=30),
    )
    service = LightBoxService(
        store=store,
        media=MediaLibrary(data_dir / "media", store),
        device_id="lightbox-test",
        settings=settings,
        state=State(),
        seed=1,
    )
    await service.start()
    with store.transaction() as tx:
        _, token = tx.create_token("tests")
    app = create_app(service, max_upload_bytes=max_upload_bytes)
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
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                await task
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield Box(service, app, f"http://127.0.0.1:{port}", token, data_dir)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        await service.stop()
        await asyncio.to_thread(store.close)


@pytest.fixture
async def box(tmp_path: Path) -> AsyncIterator[Box]:
    async with running_box(tmp_path) as b:
        yield b


@pytest.fixture
async def client(box: Box) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client with the box's token."""
    async with httpx.AsyncClient(base_url=box.url, headers=box.headers(), timeout=10) as c:
        yield c


@pytest.fixture
async def anon(box: Box) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client without a token."""
    async with httpx.AsyncClient(base_url=box.url, timeout=10) as c:
        yield c


@pytest.fixture(scope="module")
def threaded_box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    """A box on an event loop in its own thread (for synchronous clients)."""
    ready = threading.Event()
    holder: dict[str, object] = {}
    data_dir = tmp_path_factory.mktemp("threaded-box")

    async def main() -> None:
        stop = asyncio.Event()
        holder["stop"] = (asyncio.get_running_loop(), stop)
        try:
            async with running_box(data_dir) as b:
                holder["box"] = b
                ready.set()
                await stop.wait()
        finally:
            ready.set()

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as err:
            holder["error"] = err

    thread = threading.Thread(target=run, name="threaded-box", daemon=True)
    thread.start()
    ready.wait(30)
    if "box" not in holder:
        thread.join(5)
        raise RuntimeError(f"the threaded box did not start: {holder.get('error')!r}")
    try:
        box = holder["box"]
        assert isinstance(box, Box)
        yield box
    finally:
        loop, stop = holder["stop"]  # type: ignore[misc]
        loop.call_soon_threadsafe(stop.set)
        thread.join(20)
        if "error" in holder:
            raise holder["error"]  # type: ignore[misc]


def assert_problem(
    response: httpx.Response, status: int, code: str, field: str | None = None
) -> dict[str, object]:
    """``response`` is an RFC 9457 problem with this status, code and field."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert isinstance(body, dict)
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"/problems/{code}"
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    assert body["instance"] == response.request.url.path
    if field is not None:
        assert body.get("field") == field, body
    return body
