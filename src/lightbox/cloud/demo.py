"""A local cloud for ``make demo``: everything on this machine, nothing to configure.

``async with local_cloud(data_dir) as cloud:`` starts

- the cloud broker: our own Mosquitto with dynamic security on a free loopback port
  (:class:`~lightbox.cloud.broker.local.LocalMosquitto`);
- the database: SQLite in ``data_dir/cloud.db``, migrated;
- the cloud API and the fleet dashboard (uvicorn) on ``http_port`` (0: a free one);
- a demo account (e-mail and password printed by the caller from :class:`LocalCloud`).

Start the LightBox with ``cloud_url=cloud.url`` afterwards; it registers, and the demo
account can claim it with the code on its matrix (or :meth:`LocalCloud.claim` does it).
Everything stops when the block ends, in reverse order.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from pydantic import SecretStr

from lightbox.cloud.api import create_app
from lightbox.cloud.broker.local import LocalMosquitto, MosquittoMissing, mosquitto_missing
from lightbox.cloud.config import CloudConfig, dev_secret
from lightbox.cloud.db import create_engine
from lightbox.cloud.db.migrate import upgrade
from lightbox.cloud.services import CloudServices

__all__ = ["DEMO_EMAIL", "LocalCloud", "MosquittoMissing", "local_cloud"]

DEMO_EMAIL = "demo@lightbox.local"
START_TIMEOUT_S = 20.0


@dataclass(frozen=True, slots=True)
class LocalCloud:
    url: str
    """The cloud API (``/api/v1``), what ``cloud_url`` of a LightBox names."""
    dashboard_url: str
    email: str
    password: str
    broker_url: str

    async def claim(self, code: str) -> None:
        """Claim a device for the demo account (the code its matrix shows)."""
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as http:
            r = await http.post(
                "/api/v1/auth/login", json={"email": self.email, "password": self.password}
            )
            r.raise_for_status()
            headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
            r = await http.post("/api/v1/devices/claim", json={"code": code}, headers=headers)
            r.raise_for_status()


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the demo owns the signals


@contextlib.asynccontextmanager
async def local_cloud(
    data_dir: Path, *, host: str = "127.0.0.1", http_port: int = 0
) -> AsyncIterator[LocalCloud]:
    """Run a local cloud (see the module doc) while the block runs.

    Raises :class:`MosquittoMissing` when mosquitto or its dynsec plugin is not installed.
    """
    missing = mosquitto_missing()
    if missing:
        raise MosquittoMissing(missing)
    await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
    broker = LocalMosquitto(data_dir / "mosquitto", host=host)
    await asyncio.to_thread(broker.start)
    try:
        config = CloudConfig(
            http_host=host,
            http_port=http_port,
            data_dir=data_dir,
            database_url=f"sqlite+aiosqlite:///{data_dir / 'cloud.db'}",
            mqtt_url=broker.cloud_url,
            mqtt_admin_username=broker.admin_username,
            mqtt_admin_password=SecretStr(broker.admin_password),
            device_mqtt_url=broker.url,
            storage_url=str(data_dir / "storage"),
            jwt_secret=dev_secret(data_dir),
        )
        engine = create_engine(config.database_url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()
        services = await CloudServices.open(config)
        try:
            server = _QuietServer(
                uvicorn.Config(
                    create_app(config, services=services),
                    host=host,
                    port=http_port,
                    log_config=None,
                    access_log=False,
                    lifespan="off",
                )
            )
            task = asyncio.create_task(server.serve(), name="demo-cloud-http")
            try:
                async with asyncio.timeout(START_TIMEOUT_S):
                    while not server.started:
                        if task.done():
                            await task  # the bind error
                        await asyncio.sleep(0.02)
                port = server.servers[0].sockets[0].getsockname()[1]
                url = f"http://{host}:{port}"
                password = await _demo_account(url, data_dir)
                yield LocalCloud(url, f"{url}/", DEMO_EMAIL, password, broker.url)
            finally:
                server.should_exit = True
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(task, 10)
        finally:
            await services.close()
    finally:
        await asyncio.to_thread(broker.stop)


async def _demo_account(url: str, data_dir: Path) -> str:
    """The demo account's password (kept in ``data_dir``; the account made once)."""
    path = data_dir / "demo-password"
    known = path.exists()
    password = path.read_text().strip() if known else secrets.token_urlsafe(9)
    if not known:
        path.write_text(password + "\n")
        path.chmod(0o600)
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        r = await http.post("/api/v1/auth/signup", json={"email": DEMO_EMAIL, "password": password})
        if r.status_code not in (201, 409):
            r.raise_for_status()
    return password
