"""Sliding-window rate limits on Redis (shared, atomic) and in memory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from lightbox.cloud.errors import RateLimited
from lightbox.cloud.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter, Rule, enforce

RULE = Rule("test", 3, 60, "slow down")


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture(params=["redis", "memory"])
def limiter(request: pytest.FixtureRequest) -> RateLimiter:
    if request.param == "memory":
        return MemoryRateLimiter(prefix="t:")
    redis: Redis = request.getfixturevalue("redis")
    prefix: str = request.getfixturevalue("redis_prefix")
    return RedisRateLimiter(redis, prefix)


async def test_limit_and_retry_after(limiter: RateLimiter) -> None:
    assert [await limiter.hit(RULE, "k") for _ in range(3)] == [0, 0, 0]
    wait = await limiter.hit(RULE, "k")
    assert 59 <= wait <= 60
    assert await limiter.hit(RULE, "other") == 0
    with pytest.raises(RateLimited, match="slow down") as info:
        await enforce(limiter, RULE, "k")
    assert info.value.retry_after_s == 60
    await limiter.reset(RULE, "k")
    assert await limiter.hit(RULE, "k") == 0


async def test_window_slides(limiter: RateLimiter) -> None:
    rule = Rule("short", 2, 0.3)
    assert await limiter.hit(rule, "k") == 0
    assert await limiter.hit(rule, "k") == 0
    assert 0 < await limiter.hit(rule, "k") <= 0.3
    await asyncio.sleep(0.35)
    assert await limiter.hit(rule, "k") == 0


async def test_concurrent_hits_are_counted_exactly(limiter: RateLimiter) -> None:
    rule = Rule("burst", 10, 60)
    results = await asyncio.gather(*(limiter.hit(rule, "k") for _ in range(50)))
    assert sum(1 for r in results if r == 0) == 10


async def test_redis_limits_are_shared(redis_url: str, redis_prefix: str) -> None:
    a, b = Redis.from_url(redis_url), Redis.from_url(redis_url)
    try:
        one, two = RedisRateLimiter(a, redis_prefix), RedisRateLimiter(b, redis_prefix)
        assert await one.hit(RULE, "k") == 0
        assert await two.hit(RULE, "k") == 0
        assert await one.hit(RULE, "k") == 0
        assert await two.hit(RULE, "k") > 0
        # keys hold a digest, never the raw key (e-mail addresses)
        keys = [k async for k in a.scan_iter(match=f"{redis_prefix}*")]
        assert keys and all(len(k.rsplit(b":", 1)[-1]) == 32 for k in keys)
        assert all(k.startswith(redis_prefix.encode()) for k in keys)
    finally:
        await a.aclose()
        await b.aclose()


async def test_memory_sweeps_old_keys() -> None:
    limiter = MemoryRateLimiter(max_keys=10)
    rule = Rule("tiny", 1, 0.01)
    for i in range(10):
        await limiter.hit(rule, f"k{i}")
    await asyncio.sleep(0.02)
    await limiter.hit(rule, "new")
    assert len(limiter._hits) == 1
