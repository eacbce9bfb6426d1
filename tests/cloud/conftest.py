"""Fixtures for the cloud tests: a real PostgreSQL and Redis, isolated per test.

Each test gets its own PostgreSQL schema (``t_<hex>``: created, migrated, dropped) and its
own Redis key prefix (deleted afterwards), so tests never see each other's data and may run
side by side. Unreachable services skip the tests with the reason, or fail them when the
``CI`` variable is set.

``backend`` runs a test on PostgreSQL + Redis and again on SQLite with the in-memory
cache and rate limiter (one instance, no Redis). ``cloud`` is an open
:class:`CloudServices` with a controllable clock, fast password hashing, and in-memory
broker admin and relay; ``api`` is an HTTP client for an app on it with helpers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from lightbox.cloud.api import create_app
from lightbox.cloud.config import CloudConfig
from lightbox.cloud.db import create_engine
from lightbox.cloud.db.migrate import upgrade
from lightbox.cloud.memory import MemoryBrokerAdmin, MemoryRelay
from lightbox.cloud.security import Passwords
from lightbox.cloud.services import CloudServices

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
SECRET = "test-secret-" + "x" * 40
PASSWORD = "correct horse battery"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this is a failure)")
    pytest.skip(reason)


def _check_postgres(url: str) -> str | None:
    async def probe() -> None:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                await conn.execute(text("select 1"))
        finally:
            await engine.dispose()

    try:
        asyncio.run(asyncio.wait_for(probe(), 10))
    except Exception as err:
        return f"PostgreSQL at {url} is not reachable ({err!r}); set LIGHTBOX_TEST_DATABASE_URL"
    return None


def _check_redis(url: str) -> str | None:
    async def probe() -> None:
        redis = Redis.from_url(url)
        try:
            await redis.ping()
        finally:
            await redis.aclose()

    try:
        asyncio.run(asyncio.wait_for(probe(), 10))
    except Exception as err:
        return f"Redis at {url} is not reachable ({err!r}); set LIGHTBOX_TEST_REDIS_URL"
    return None


@pytest.fixture(scope="session")
def pg_url() -> str:
    url = os.environ.get("LIGHTBOX_TEST_DATABASE_URL", DEFAULT_DATABASE_URL)
    problem = _check_postgres(url)
    if problem:
        _unavailable(problem)
    return url


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("LIGHTBOX_TEST_REDIS_URL", DEFAULT_REDIS_URL)
    problem = _check_redis(url)
    if problem:
        _unavailable(problem)
    return url


async def create_schema(pg_url: str) -> str:
    name = f"t_{uuid.uuid4().hex}"
    engine = create_engine(pg_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{name}"'))
    finally:
        await engine.dispose()
    return name


async def drop_schema(pg_url: str, name: str) -> None:
    engine = create_engine(pg_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
    finally:
        await engine.dispose()


async def delete_prefix(redis_url: str, prefix: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        keys = [k async for k in redis.scan_iter(match=f"{prefix}*", count=500)]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


@pytest.fixture
async def pg_schema(pg_url: str) -> AsyncIterator[str]:
    """An empty PostgreSQL schema of this test's own."""
    name = await create_schema(pg_url)
    try:
        yield name
    finally:
        await drop_schema(pg_url, name)


@pytest.fixture
async def redis_prefix(redis_url: str) -> AsyncIterator[str]:
    """A Redis key prefix of this test's own (its keys are deleted afterwards)."""
    prefix = f"lbtest:{uuid.uuid4().hex}:"
    try:
        yield prefix
    finally:
        await delete_prefix(redis_url, prefix)


class Clock:
    """The services' clock: frozen at start, moved by the test."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Backend:
    """Where a test's cloud keeps its data."""

    name: str
    database_url: str
    schema: str | None = None
    redis_url: str | None = None
    redis_prefix: str = "lightbox:"

    def config(self, **overrides: Any) -> CloudConfig:
        values: dict[str, Any] = {
            "database_url": self.database_url,
            "redis_url": self.redis_url,
            "redis_prefix": self.redis_prefix,
            "jwt_secret": SECRET,
            "mqtt_url": None,
            "device_mqtt_url": "mqtts://broker.test:8883",
        }
        values.update(overrides)
        return CloudConfig(**values)

    async def open(self, clock: Clock | None = None, **kwargs: Any) -> CloudServices:
        return await CloudServices.open(
            self.config(),
            schema=self.schema,
            passwords=kwargs.pop("passwords", None) or Passwords.fast(),
            clock=clock,
            **kwargs,
        )


@pytest.fixture
async def postgres_backend(
    pg_url: str, redis_url: str, redis_prefix: str
) -> AsyncIterator[Backend]:
    """PostgreSQL (own schema, migrated) and Redis (own prefix)."""
    schema = await create_schema(pg_url)
    backend = Backend("postgres", pg_url, schema, redis_url, redis_prefix)
    engine = create_engine(pg_url, schema=schema)
    try:
        await upgrade(engine)
        await engine.dispose()
        yield backend
    finally:
        await engine.dispose()
        await drop_schema(pg_url, schema)


@pytest.fixture
async def sqlite_backend(tmp_path: Path) -> Backend:
    """A migrated SQLite file, no Redis."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'cloud.db'}"
    engine = create_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    return Backend("sqlite", url, redis_prefix=f"lbtest:{uuid.uuid4().hex}:")


@pytest.fixture(params=["postgres", "sqlite"])
def backend(request: pytest.FixtureRequest) -> Backend:
    """Each test that uses it runs on PostgreSQL + Redis and on SQLite alone."""
    fixture: Backend = request.getfixturevalue(f"{request.param}_backend")
    return fixture


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def cloud(backend: Backend, clock: Clock) -> AsyncIterator[CloudServices]:
    services = await backend.open(clock, broker_admin=MemoryBrokerAdmin(), relay=MemoryRelay())
    try:
        yield services
    finally:
        await services.close()


@dataclass
class Api:
    """An HTTP client for one app, with helpers for the common steps."""

    client: httpx.AsyncClient
    services: CloudServices
    _count: list[int] = field(default_factory=lambda: [0])

    @property
    def broker(self) -> MemoryBrokerAdmin:
        assert isinstance(self.services.broker_admin, MemoryBrokerAdmin)
        return self.services.broker_admin

    @property
    def relay(self) -> MemoryRelay:
        assert isinstance(self.services.relay, MemoryRelay)
        return self.services.relay

    async def user(self, email: str | None = None, password: str = PASSWORD) -> User:
        """A new account, logged in."""
        self._count[0] += 1
        email = email or f"user{self._count[0]}-{uuid.uuid4().hex[:6]}@example.com"
        r = await self.client.post(
            "/api/v1/auth/signup", json={"email": email, "password": password}
        )
        assert r.status_code == 201, r.text
        tokens = await self.login(email, password)
        return User(email, password, tokens["access_token"], tokens["refresh_token"])

    async def login(self, email: str, password: str = PASSWORD) -> dict[str, Any]:
        r = await self.client.post(
            "/api/v1/auth/login", json={"email": email, "password": password}
        )
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    async def register(self, device_id: str | None = None, **extra: Any) -> dict[str, Any]:
        device_id = device_id or f"box-{uuid.uuid4().hex[:10]}"
        body = {"device_id": device_id, "name": "Kitchen", "version": "0.1.0", "hardware": "pi4"}
        body.update(extra)
        r = await self.client.post("/api/v1/devices/register", json=body)
        assert r.status_code in (200, 201), r.text
        data: dict[str, Any] = r.json()
        return data

    async def owned_device(self, user: User) -> dict[str, Any]:
        """A registered device, claimed by ``user``."""
        reg = await self.register()
        r = await self.client.post(
            "/api/v1/devices/claim", json={"code": reg["claim_code"]}, headers=user.headers
        )
        assert r.status_code == 200, r.text
        return reg


@dataclass
class User:
    email: str
    password: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


@contextlib.asynccontextmanager
async def api_for(services: CloudServices) -> AsyncIterator[Api]:
    """An app on ``services`` and an HTTP client for it (in this event loop)."""
    app = create_app(services.config, services=services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://cloud.test") as client:
        yield Api(client, services)


@pytest.fixture
async def api(cloud: CloudServices) -> AsyncIterator[Api]:
    async with api_for(cloud) as a:
        yield a


def assert_problem(
    response: httpx.Response, status: int, code: str, field: str | None = None
) -> dict[str, Any]:
    """``response`` is an RFC 9457 problem with this status, code (and field)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"/problems/{code}"
    assert body["detail"]
    assert body["instance"] == response.request.url.path
    if field is not None:
        assert body.get("field") == field, body
    return body


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "schemathesis: property-based run against /openapi.json (bounded, ~30 s)"
    )
