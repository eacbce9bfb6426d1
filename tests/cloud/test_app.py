"""The app factory: its own lifespan (opens and closes everything), the OpenAPI document,
and how infrastructure failures are answered."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
import uvicorn

from lightbox.cloud.api import create_app
from lightbox.cloud.broker.errors import BrokerUnavailable
from lightbox.cloud.config import CloudConfig, ConfigError
from lightbox.cloud.db import create_engine
from lightbox.cloud.db.migrate import upgrade
from tests.cloud.conftest import PASSWORD, SECRET, Api, assert_problem


async def test_lifespan_opens_and_closes_services(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cloud.db'}"
    engine = create_engine(url)
    await upgrade(engine)
    await engine.dispose()
    app = create_app(CloudConfig(database_url=url, jwt_secret=SECRET, instance_id="one"))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done()
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            assert (await client.get("/healthz")).json() == {"status": "ok", "instance": "one"}
            body = {"email": "life@example.com", "password": PASSWORD}
            assert (await client.post("/api/v1/auth/signup", json=body)).status_code == 201
            assert (await client.post("/api/v1/auth/login", json=body)).status_code == 200
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


def test_no_secret_no_app() -> None:
    with pytest.raises(ConfigError, match="jwt_secret"):
        create_app(CloudConfig(jwt_secret=None))


def test_openapi_documents_problems_and_security() -> None:
    doc = create_app(CloudConfig(jwt_secret=SECRET)).openapi()
    assert "Problem" in doc["components"]["schemas"]
    assert {"user", "device"} <= set(doc["components"]["securitySchemes"])
    paths = doc["paths"]
    for path in (
        "/api/v1/auth/signup",
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/auth/password",
        "/api/v1/me",
        "/api/v1/devices",
        "/api/v1/devices/register",
        "/api/v1/devices/claim",
        "/api/v1/devices/{device_id}",
        "/api/v1/devices/{device_id}/claim-code",
        "/api/v1/devices/{device_id}/credentials/revoke",
        "/api/v1/devices/{device_id}/commands",
    ):
        assert path in paths, path
    command = paths["/api/v1/devices/{device_id}/commands"]["post"]
    assert "503" in command["responses"] and "504" in command["responses"]


async def test_broker_outage_is_a_503(api: Api) -> None:
    async def down(device_id: str) -> tuple[str, str]:
        raise BrokerUnavailable("broker down")

    api.broker.create_device = down  # type: ignore[method-assign]
    r = await api.client.post(
        "/api/v1/devices/register", json={"device_id": "b", "name": "n", "version": "1"}
    )
    assert_problem(r, 503, "busy")
    assert r.headers["Retry-After"] == "5"
    # nothing was kept: once the broker is back, the first registration succeeds
    del api.broker.create_device
    r = await api.client.post(
        "/api/v1/devices/register", json={"device_id": "b", "name": "n", "version": "1"}
    )
    assert r.status_code == 201


async def test_body_limit(api: Api) -> None:
    r = await api.client.post(
        "/api/v1/auth/login",
        content=b'{"email": "' + b"a" * 300_000 + b'"}',
        headers={"content-type": "application/json"},
    )
    assert_problem(r, 413, "payload_too_large")
