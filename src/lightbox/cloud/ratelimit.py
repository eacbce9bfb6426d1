"""Sliding-window rate limits: on Redis (shared by every instance) or in memory (one instance).

A :class:`Rule` allows ``limit`` hits per ``window_s`` seconds per key. Each hit is
recorded with its time; a hit is refused while ``limit`` recorded hits are younger than the
window, and the refusal says when the oldest of them leaves it (``Retry-After``). On Redis
one Lua script does the whole check-and-record atomically on the server's clock, so
instances with skewed clocks still share one count.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from redis.asyncio import Redis

from lightbox.cloud.errors import RateLimited


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    limit: int
    window_s: float
    message: str = "too many attempts"


@dataclass(frozen=True, slots=True)
class Limits:
    """The rules the API applies (tests may use tighter or looser ones)."""

    login_email: Rule = Rule("login-email", 10, 900, "too many log-in attempts for this account")
    login_ip: Rule = Rule("login-ip", 60, 300, "too many log-in attempts from your address")
    signup_ip: Rule = Rule("signup-ip", 20, 3600, "too many sign-ups from your address")
    register_ip: Rule = Rule("register-ip", 120, 3600, "too many registrations from your address")
    claim_user: Rule = Rule("claim-user", 10, 600, "too many claim attempts")
    claim_prefix: Rule = Rule("claim-prefix", 20, 600, "too many claim attempts for this code")
    refresh_ip: Rule = Rule("refresh-ip", 300, 300, "too many token refreshes from your address")


class RateLimiter(Protocol):
    async def hit(self, rule: Rule, key: str) -> float:
        """Record a hit: ``0`` if allowed, else the seconds until one would be."""
        ...

    async def reset(self, rule: Rule, key: str) -> None:
        """Forget every hit of ``key`` (e.g. after a successful log-in)."""
        ...


async def enforce(limiter: RateLimiter, rule: Rule, key: str) -> None:
    """Record a hit, or raise :class:`RateLimited` with the time to wait."""
    wait = await limiter.hit(rule, key)
    if wait > 0:
        raise RateLimited(f"{rule.message}; try again in {max(1, round(wait))} s", retry_after=wait)


def _key(prefix: str, rule: Rule, key: str) -> str:
    # keys may hold e-mail addresses: keep only a digest of them
    return f"{prefix}rl:{rule.name}:{hashlib.sha256(key.encode()).hexdigest()[:32]}"


_SLIDING_WINDOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"""


class RedisRateLimiter:
    def __init__(self, redis: Redis, prefix: str = "lightbox:") -> None:
        self.redis = redis
        self.prefix = prefix
        self._script = redis.register_script(_SLIDING_WINDOW)

    async def hit(self, rule: Rule, key: str) -> float:
        wait_ms = await self._script(
            keys=[_key(self.prefix, rule, key)],
            args=[int(rule.window_s * 1000), rule.limit, uuid.uuid4().hex],
        )
        return float(wait_ms) / 1000.0

    async def reset(self, rule: Rule, key: str) -> None:
        await self.redis.delete(_key(self.prefix, rule, key))


@dataclass
class MemoryRateLimiter:
    """The same rules for a single instance with no Redis."""

    prefix: str = "lightbox:"
    max_keys: int = 100_000
    _hits: dict[str, tuple[float, deque[float]]] = field(default_factory=dict)

    async def hit(self, rule: Rule, key: str) -> float:
        now = time.monotonic()
        name = _key(self.prefix, rule, key)
        entry = self._hits.get(name)
        if entry is None:
            if len(self._hits) >= self.max_keys:
                self._sweep(now)
            entry = self._hits[name] = (rule.window_s, deque())
        hits = entry[1]
        while hits and hits[0] <= now - rule.window_s:
            hits.popleft()
        if len(hits) < rule.limit:
            hits.append(now)
            return 0.0
        return max(0.001, hits[0] + rule.window_s - now)

    async def reset(self, rule: Rule, key: str) -> None:
        self._hits.pop(_key(self.prefix, rule, key), None)

    def _sweep(self, now: float) -> None:
        stale = [n for n, (w, h) in self._hits.items() if not h or h[-1] <= now - w]
        for name in stale:
            del self._hits[name]
