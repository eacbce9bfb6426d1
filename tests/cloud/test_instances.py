"""Two cloud instances (two ``create_app`` with their own services) on the same PostgreSQL
schema and Redis prefix: they share accounts, sessions, devices, presence and rate limits."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from lightbox.cloud.devices import Devices
from lightbox.cloud.memory import MemoryBrokerAdmin, MemoryRelay
from tests.cloud.conftest import Api, Backend, api_for, assert_problem


@contextlib.asynccontextmanager
async def two_instances(backend: Backend) -> AsyncIterator[tuple[Api, Api]]:
    admin = MemoryBrokerAdmin()  # one broker behind both
    a = await backend.open(broker_admin=admin, relay=MemoryRelay())
    b = await backend.open(broker_admin=admin, relay=MemoryRelay())
    try:
        async with api_for(a) as api_a, api_for(b) as api_b:
            yield api_a, api_b
    finally:
        await a.close()
        await b.close()


@pytest.fixture
async def pair(postgres_backend: Backend) -> AsyncIterator[tuple[Api, Api]]:
    async with two_instances(postgres_backend) as apis:
        yield apis


async def test_accounts_and_sessions_are_shared(pair: tuple[Api, Api]) -> None:
    a, b = pair
    user = await a.user()
    # log in on B, refresh on A, use on B
    tokens = await b.login(user.email)
    r = await a.client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 200
    fresh = r.json()
    headers = {"Authorization": f"Bearer {fresh['access_token']}"}
    assert (await b.client.get("/api/v1/me", headers=headers)).status_code == 200
    # reuse detected on B of a token rotated on A
    r = await b.client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert_problem(r, 401, "unauthorized")
    assert (await a.client.get("/api/v1/me", headers=headers)).status_code == 401
    # log-out on A ends the session on B at once
    assert (await b.client.get("/api/v1/me", headers=user.headers)).status_code == 200
    assert (await a.client.post("/api/v1/auth/logout", headers=user.headers)).status_code == 204
    assert (await b.client.get("/api/v1/me", headers=user.headers)).status_code == 401


async def test_devices_and_presence_are_shared(pair: tuple[Api, Api]) -> None:
    a, b = pair
    user = await a.user()
    reg = await b.register()
    r = await a.client.post(
        "/api/v1/devices/claim", json={"code": reg["claim_code"]}, headers=user.headers
    )
    assert r.status_code == 200
    await Devices(a.services).record_presence(reg["device_id"], True, datetime.now(UTC))
    listed = (await b.client.get("/api/v1/devices", headers=user.headers)).json()
    assert [(d["device_id"], d["online"]) for d in listed] == [(reg["device_id"], True)]
    # registration again through A with the secret B handed out
    again = await a.register(reg["device_id"], registration_secret=reg["registration_secret"])
    assert again["mqtt"]["username"] == reg["mqtt"]["username"]


async def test_rate_limits_are_shared(pair: tuple[Api, Api]) -> None:
    a, b = pair
    user = await a.user()
    rule = a.services.limits.login_email
    for i in range(rule.limit):
        api = a if i % 2 else b
        r = await api.client.post(
            "/api/v1/auth/login", json={"email": user.email, "password": "wrong-wrong"}
        )
        assert r.status_code == 401
    for api in (a, b):
        r = await api.client.post(
            "/api/v1/auth/login", json={"email": user.email, "password": user.password}
        )
        assert_problem(r, 429, "rate_limited")


async def test_pubsub_reaches_the_other_instance(pair: tuple[Api, Api]) -> None:
    a, b = pair
    async with b.services.cache.subscribe("relay:test") as sub:
        assert await a.services.cache.publish("relay:test", b"hello") == 1
        assert await sub.get(timeout=5) == b"hello"
