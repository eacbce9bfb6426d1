"""A real LightBox registered to a real local cloud, for the client tests (and the e2e ones).

:func:`cloud_stack` starts, in the running event loop:

- our own Mosquitto with dynamic security (the cloud broker; skipped when mosquitto is
  missing, failed under ``CI``);
- a cloud instance: SQLite in the temp dir (migrated), :class:`CloudServices` wired to
  that broker, the cloud app on uvicorn on a free port;
- a LightBox: :class:`EdgeRuntime` with the null driver, an embedded LAN broker on a free
  port, no mDNS or BLE, ``cloud_url`` pointing at the cloud (it registers and connects);
- a TCP proxy in front of the LightBox's HTTP port: the "LAN" a client sees, which a test
  can cut (connections refused), let through, or make swallow the answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx
import uvicorn

from lightbox.cloud.api import create_app
from lightbox.cloud.broker.local import LocalMosquitto, free_port
from lightbox.cloud.config import CloudConfig
from lightbox.cloud.db import create_engine
from lightbox.cloud.db.migrate import upgrade
from lightbox.cloud.security import Passwords
from lightbox.cloud.services import CloudServices
from lightbox.edge.config import EdgeConfig
from lightbox.edge.runtime import EdgeRuntime
from tests.cloud.broker.helpers import dynsec_broker

SECRET = "client-test-secret-" + "x" * 40
PASSWORD = "correct horse battery"
LIMIT_S = 15.0

Mode = Literal["pass", "refuse", "swallow"]


class LanProxy:
    """A TCP proxy on a fixed port: ``pass`` traffic, ``refuse`` connections (the port is
    closed), or ``swallow`` the answers (requests reach the LightBox, answers never return).
    """

    def __init__(self, target_port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = free_port(host)
        self.target_port = target_port
        self.mode: Mode = "refuse"
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def set(self, mode: Mode) -> None:
        self.mode = mode
        if mode == "refuse":
            await self._close()
        else:
            await self._drop_connections()  # the next request opens a fresh one
            if self._server is None:
                self._server = await asyncio.start_server(
                    self._serve, self.host, self.port, reuse_address=True
                )

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.target_port)
        except OSError:
            writer.close()
            return
        self._conns.update((writer, up_writer))
        swallow = self.mode == "swallow"

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, drop: bool) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    if not drop:
                        dst.write(data)
                        await dst.drain()
            with contextlib.suppress(Exception):
                dst.close()

        both = [
            asyncio.create_task(pipe(reader, up_writer, False)),
            asyncio.create_task(pipe(up_reader, writer, swallow)),
        ]
        self._tasks.update(both)
        try:
            await asyncio.gather(*both)
        finally:
            self._tasks.difference_update(both)
            self._conns.difference_update((writer, up_writer))

    async def _drop_connections(self) -> None:
        for conn in list(self._conns):
            with contextlib.suppress(Exception):
                conn.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._conns.clear()

    async def _close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        await self._drop_connections()
        if server is not None:
            await server.wait_closed()


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll ``check`` until it is true; fail after LIMIT_S saying ``what`` did not happen."""
    try:
        async with asyncio.timeout(LIMIT_S):
            while True:
                if await check():
                    return
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


@dataclass
class Stack:
    broker: LocalMosquitto
    services: CloudServices
    cloud_url: str
    runtime: EdgeRuntime
    lan: LanProxy
    device_id: str
    token: str
    http: httpx.AsyncClient

    @property
    def lightbox_url(self) -> str:
        """The LightBox's own HTTP address (not through the proxy)."""
        assert self.runtime.endpoints is not None
        return self.runtime.endpoints.http_url

    async def user(self, email: str | None = None) -> tuple[str, str]:
        """A new account: ``(email, password)``."""
        email = email or f"u{uuid.uuid4().hex[:8]}@example.com"
        r = await self.http.post(
            f"{self.cloud_url}/api/v1/auth/signup", json={"email": email, "password": PASSWORD}
        )
        assert r.status_code == 201, r.text
        return email, PASSWORD

    async def claim_code(self) -> str:
        cloud = self.runtime.cloud
        assert cloud is not None
        await cloud.wait_connected(LIMIT_S)
        return (await cloud.claim_code()).claim_code


class QuietServer(uvicorn.Server):
    """uvicorn without signal handlers (the test owns the process)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_cloud(
    config: CloudConfig, services: CloudServices
) -> tuple[uvicorn.Server, asyncio.Task[None], str]:
    """The cloud app on uvicorn on a free port: ``(server, its task, base URL)``."""
    server = QuietServer(
        uvicorn.Config(
            create_app(config, services=services),
            host="127.0.0.1",
            port=0,
            log_config=None,
            access_log=False,
            lifespan="off",
        )
    )
    task = asyncio.create_task(server.serve(), name="cloud-http")
    while not server.started:
        if task.done():
            await task
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, task, f"http://127.0.0.1:{port}"


async def stop_server(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    server.should_exit = True
    with contextlib.suppress(Exception):
        await asyncio.wait_for(task, 10)


@contextlib.asynccontextmanager
async def cloud_stack(tmp: Path, *, device_id: str | None = None) -> AsyncIterator[Stack]:
    device_id = device_id or f"box-{uuid.uuid4().hex[:8]}"
    with dynsec_broker(tmp / "mosquitto") as broker:
        config = CloudConfig(
            database_url=f"sqlite+aiosqlite:///{tmp / 'cloud.db'}",
            jwt_secret=SECRET,
            mqtt_url=broker.cloud_url,
            mqtt_admin_username=broker.admin_username,
            mqtt_admin_password=broker.admin_password,
            device_mqtt_url=broker.url,
            data_dir=tmp / "cloud",
        )
        engine = create_engine(config.database_url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()
        services = await CloudServices.open(config, passwords=Passwords.fast())
        server: tuple[uvicorn.Server, asyncio.Task[None]] | None = None
        runtime: EdgeRuntime | None = None
        lan: LanProxy | None = None
        try:
            http_server, task, cloud_url = await serve_cloud(config, services)
            server = (http_server, task)
            edge = EdgeConfig(
                data_dir=tmp / "lightbox",
                http_host="127.0.0.1",
                http_port=0,
                device_id=device_id,
                name="Client test box",
                embedded_broker_port=0,
                driver="null",
                size="32x16",
                mdns_enabled=False,
                ble_enabled=False,
                cloud_url=cloud_url,
                shutdown_timeout_s=8,
            )
            runtime = EdgeRuntime(edge)
            endpoints = await runtime.start()
            assert runtime.store is not None
            with runtime.store.transaction() as tx:
                _, token = tx.create_token("client-tests")
            lan = LanProxy(int(endpoints.http_url.rsplit(":", 1)[1]))
            await lan.set("pass")
            async with httpx.AsyncClient(timeout=LIMIT_S) as http:
                yield Stack(broker, services, cloud_url, runtime, lan, device_id, token, http)
        finally:
            if lan is not None:
                await lan.set("refuse")
            if runtime is not None:
                await runtime.stop()
            if server is not None:
                await stop_server(*server)
            await services.close()
