"""Presence and pub/sub, on Redis and in memory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from lightbox.cloud.cache import Cache, MemoryCache, RedisCache

T0 = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["redis", "memory"])
def where(request: pytest.FixtureRequest) -> tuple[str, str] | None:
    """``(redis_url, prefix)``, or ``None`` for the in-memory cache."""
    if request.param == "memory":
        return None
    return request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix")


@pytest.fixture
async def cache(where: tuple[str, str] | None) -> AsyncIterator[Cache]:
    c: Cache = MemoryCache("t:") if where is None else RedisCache.from_url(*where)
    try:
        yield c
    finally:
        await c.close()


async def test_presence_newest_wins(cache: Cache) -> None:
    assert await cache.get_presence([]) == {}
    assert await cache.set_presence("a", True, T0)
    assert await cache.set_presence("b", False, T0)
    assert not await cache.set_presence("a", False, T0 - timedelta(seconds=1))
    assert await cache.set_presence("a", False, T0 + timedelta(milliseconds=5))
    got = await cache.get_presence(["a", "b", "c"])
    assert set(got) == {"a", "b"}
    assert got["a"].online is False and got["a"].at == T0 + timedelta(milliseconds=5)
    assert got["b"].online is False and got["b"].at == T0


async def test_pubsub(cache: Cache) -> None:
    assert await cache.publish("ch", b"nobody") == 0
    async with cache.subscribe("ch") as one, cache.subscribe("ch") as two:
        assert await cache.publish("ch", b"x1") == 2
        assert await cache.publish("other", b"no") == 0
        assert await one.get(timeout=5) == b"x1"
        assert await two.get(timeout=5) == b"x1"
        assert await one.get(timeout=0.05) is None
        await cache.publish("ch", b"x2")
        await cache.publish("ch", b"x3")
        got = []
        async with asyncio.timeout(5):
            async for data in one:
                got.append(data)
                if len(got) == 2:
                    break
        assert got == [b"x2", b"x3"]
    assert await cache.publish("ch", b"gone") == 0


async def test_prefixes_separate_tenants(redis_url: str, redis_prefix: str) -> None:
    a = RedisCache.from_url(redis_url, redis_prefix + "a:")
    b = RedisCache.from_url(redis_url, redis_prefix + "b:")
    try:
        await a.set_presence("x", True, T0)
        assert await b.get_presence(["x"]) == {}
        async with b.subscribe("ch") as sub:
            assert await a.publish("ch", b"hi") == 0
            assert await sub.get(timeout=0.05) is None
    finally:
        await a.close()
        await b.close()
