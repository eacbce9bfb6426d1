"""A whole sync setup on real services: our own Mosquitto (dynamic security, per-device
ACLs), a PostgreSQL schema of the test's own, cloud services with the real broker side and
sync workers, the cloud API in-process, and LightBoxes (real service, null driver) with
their CloudLink, SyncAgent and TelemetryReporter.

Unreachable services skip the tests with the reason, or fail them when ``CI`` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from lightbox.cloud.api import create_app
from lightbox.cloud.broker.local import LocalMosquitto
from lightbox.cloud.config import CloudConfig
from lightbox.cloud.security import Passwords
from lightbox.cloud.services import CloudServices
from lightbox.cloud.sync import SyncWorker, start_worker
from lightbox.edge.cloud_link import META_MQTT, META_SECRET, META_URL, CloudLink
from lightbox.edge.media import MediaLibrary
from lightbox.edge.service import LightBoxService
from lightbox.edge.store import Store
from lightbox.edge.sync import SyncAgent, TelemetryReporter
from lightbox.protocol import Settings, State
from lightbox.protocol.settings import NullDriver
from lightbox.sync import flatten, from_models

LIMIT_S = 20.0
SECRET = "test-secret-" + "x" * 40
CLOUD_URL = "http://cloud.test"


def cloud_config(pg_url: str, broker: LocalMosquitto, **extra: Any) -> CloudConfig:
    values: dict[str, Any] = {
        "database_url": pg_url,
        "redis_url": None,
        "jwt_secret": SECRET,
        "mqtt_url": broker.cloud_url,
        "mqtt_admin_username": broker.admin_username,
        "mqtt_admin_password": broker.admin_password,
        "device_mqtt_url": broker.url,
        "instance_id": f"i{uuid.uuid4().hex[:8]}",
        **extra,
    }
    return CloudConfig(**values)


@dataclass
class Cloud:
    """One cloud instance: services, its sync worker and an HTTP client for its API."""

    services: CloudServices
    worker: SyncWorker
    http: httpx.AsyncClient

    async def user(self) -> dict[str, str]:
        email = f"u-{uuid.uuid4().hex[:10]}@example.com"
        password = "correct horse battery"
        r = await self.http.post("/api/v1/auth/signup", json={"email": email, "password": password})
        assert r.status_code == 201, r.text
        r = await self.http.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    async def register(self, device_id: str) -> dict[str, Any]:
        body = {"device_id": device_id, "name": "Kitchen", "version": "0.1.0", "hardware": "pi"}
        r = await self.http.post("/api/v1/devices/register", json=body)
        assert r.status_code in (200, 201), r.text
        data: dict[str, Any] = r.json()
        return data

    async def claim(self, headers: dict[str, str], code: str) -> None:
        r = await self.http.post("/api/v1/devices/claim", json={"code": code}, headers=headers)
        assert r.status_code == 200, r.text

    async def synced(self, headers: dict[str, str], device_id: str) -> dict[str, Any]:
        r = await self.http.get(f"/api/v1/devices/{device_id}/synced", headers=headers)
        assert r.status_code == 200, r.text
        data: dict[str, Any] = r.json()
        return data

    async def patch(self, headers: dict[str, str], device_id: str, body: dict[str, Any]) -> None:
        r = await self.http.patch(f"/api/v1/devices/{device_id}/synced", json=body, headers=headers)
        assert r.status_code == 200, r.text


@contextlib.asynccontextmanager
async def open_cloud(
    pg_url: str, schema: str, broker: LocalMosquitto, *, sweep_s: float = 0.2
) -> AsyncIterator[Cloud]:
    services = await CloudServices.open(
        cloud_config(pg_url, broker), schema=schema, passwords=Passwords.fast()
    )
    try:
        worker = await start_worker(services)
        assert worker is not None
        worker._sweep_s = sweep_s
        await worker.connection.wait_connected(LIMIT_S)
        app = create_app(services.config, services=services)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=CLOUD_URL) as http:
            yield Cloud(services, worker, http)
    finally:
        await services.close()


@dataclass
class Box:
    """A LightBox: service, sync agent, telemetry, and its cloud link (run/cut at will)."""

    store: Store
    service: LightBoxService
    agent: SyncAgent
    telemetry: TelemetryReporter
    link: CloudLink
    _task: asyncio.Task[None] | None = field(default=None)

    @property
    def device_id(self) -> str:
        return self.service.device_id

    async def connect(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.link.run())
        await self.link.wait_connected(LIMIT_S)

    async def cut(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            await self.link.stop(LIMIT_S)
            await asyncio.wait_for(task, LIMIT_S)

    def view(self) -> dict[str, Any]:
        svc, store = self.service, self.store
        return flatten(
            from_models(
                svc.state,
                svc.settings,
                store.list_presets(),
                store.list_playlists(),
                store.list_schedules(),
            )
        )


def seed_credentials(store: Store, registration: dict[str, Any], mqtt_url: str) -> None:
    """Store a registration as CloudLink does, so that it never calls the cloud's HTTP."""
    mqtt = dict(registration["mqtt"], url=mqtt_url)
    with store.transaction() as tx:
        tx.set_meta(META_URL, CLOUD_URL)
        tx.set_meta(META_SECRET, registration["registration_secret"])
        tx.set_meta(META_MQTT, json.dumps(mqtt))


@contextlib.asynccontextmanager
async def open_box(
    directory: Path,
    cloud: Cloud,
    broker: LocalMosquitto,
    *,
    device_id: str | None = None,
    batch_s: float = 0.1,
) -> AsyncIterator[Box]:
    device_id = device_id or f"box-{uuid.uuid4().hex[:10]}"
    store = Store.open(directory / "lightbox.db")
    service = LightBoxService(
        store=store,
        media=MediaLibrary(directory / "media", store),
        device_id=device_id,
        settings=store.load_settings() or Settings(driver=NullDriver(), name="Kitchen"),
        state=store.load_state() or State(),
        seed=1,
    )
    await service.start()
    agent = SyncAgent(store, service, batch_s=batch_s, ack_timeout_s=2.0)
    telemetry = TelemetryReporter(service, interval_s=0.2, refused=lambda: agent.refused)
    await agent.start()
    telemetry.start()
    link = CloudLink(
        CLOUD_URL,
        store,
        service,
        http=cloud.http,
        mqtt_url=broker.url,
        retry_min_s=0.05,
        retry_max_s=0.3,
        probe_after_s=0.5,
        check_every_s=0.05,
        mqtt_reconnect_max_s=0.5,
        extensions=[agent, telemetry],
    )
    box = Box(store, service, agent, telemetry, link)
    try:
        yield box
    finally:
        await box.cut()
        await telemetry.stop()
        await agent.stop()
        await service.stop()
        store.close()


async def eventually(
    check: Callable[[], Awaitable[bool]], what: str, limit_s: float = LIMIT_S
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while True:
        if await check():
            return
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def same(device: dict[str, Any], cloud_view: dict[str, Any]) -> list[str]:
    """Keys whose values differ between a device's flattened view and the cloud's view."""
    from lightbox.sync import unflatten
    from lightbox.sync.document import canonical

    other = flatten(unflatten(flatten(cloud_view)))  # type: ignore[arg-type]
    return sorted(
        k
        for k in device.keys() | other.keys()
        if k not in device or k not in other or canonical(device[k]) != canonical(other[k])
    )
