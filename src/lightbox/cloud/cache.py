"""Shared state between cloud instances: presence and pub/sub, on Redis or in memory.

:class:`RedisCache` is for any number of instances on one Redis; :class:`MemoryCache` is
the same API for a single instance with no Redis. Every key and channel gets ``prefix``
(``lightbox:`` by default; tests use one per test).

Presence
    ``await cache.set_presence(device_id, online, at)`` records a device's connection state
    as of ``at`` (a report older than the one stored is ignored, so a late last will does
    not hide a newer "online"); ``await cache.get_presence([ids])`` returns
    ``{device_id: Presence}`` for the devices that have one.

Pub/sub (fan-out between instances)
    ``await cache.publish(channel, data)`` sends ``bytes`` to every subscriber of
    ``channel`` on every instance and returns how many received it (this instance's
    included). Subscribe with::

        async with cache.subscribe("relay:replies") as sub:
            # the subscription is active here: nothing published from now on is missed
            async for data in sub:          # bytes, in publishing order
                ...
            data = await sub.get(timeout=5)  # or one at a time; None on timeout

    Delivery is at most once and only to subscribers connected at the time (Redis
    pub/sub): use it for "this instance holds the waiting request", not for storage.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

MAX_QUEUED = 10_000
"""Messages a slow in-memory subscriber may fall behind by before the oldest are dropped."""


@dataclass(frozen=True, slots=True)
class Presence:
    online: bool
    at: datetime


class Subscription(Protocol):
    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def get(self, timeout: float | None = None) -> bytes | None: ...  # noqa: ASYNC109


class Cache(Protocol):
    prefix: str

    async def set_presence(self, device_id: str, online: bool, at: datetime) -> bool: ...

    async def get_presence(self, device_ids: Iterable[str]) -> dict[str, Presence]: ...

    async def publish(self, channel: str, data: bytes) -> int: ...

    def subscribe(self, channel: str) -> contextlib.AbstractAsyncContextManager[Subscription]: ...

    async def close(self) -> None: ...


def _encode(online: bool, at: datetime) -> str:
    return f"{int(at.timestamp() * 1000)}:{1 if online else 0}"


def _decode(value: str | bytes) -> Presence:
    text = value.decode() if isinstance(value, bytes) else value
    ms, flag = text.split(":", 1)
    return Presence(online=flag == "1", at=datetime.fromtimestamp(int(ms) / 1000, UTC))


_SET_IF_NEWER = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old then
  local old_ms = tonumber(string.match(old, '^(%d+):'))
  local new_ms = tonumber(string.match(ARGV[2], '^(%d+):'))
  if old_ms and new_ms and new_ms < old_ms then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""


class RedisCache:
    """Presence and pub/sub on Redis. ``close`` closes ``redis`` only if this opened it."""

    def __init__(self, redis: Redis, prefix: str = "lightbox:", *, owned: bool = False) -> None:
        self.redis = redis
        self.prefix = prefix
        self._owned = owned
        self._set_if_newer = redis.register_script(_SET_IF_NEWER)

    @classmethod
    def from_url(cls, url: str, prefix: str = "lightbox:") -> RedisCache:
        return cls(Redis.from_url(url), prefix, owned=True)

    @property
    def _presence_key(self) -> str:
        return f"{self.prefix}presence"

    async def set_presence(self, device_id: str, online: bool, at: datetime) -> bool:
        """Record presence as of ``at``; ``False`` if a newer report was already stored."""
        done = await self._set_if_newer(
            keys=[self._presence_key], args=[device_id, _encode(online, at)]
        )
        return bool(done)

    async def get_presence(self, device_ids: Iterable[str]) -> dict[str, Presence]:
        ids = list(device_ids)
        if not ids:
            return {}
        values: list[bytes | str | None] = await self.redis.hmget(self._presence_key, ids)
        return {i: _decode(v) for i, v in zip(ids, values, strict=True) if v is not None}

    async def publish(self, channel: str, data: bytes) -> int:
        return int(await self.redis.publish(self.prefix + channel, data))

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscription]:
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self.prefix + channel)
            yield _RedisSubscription(pubsub)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.unsubscribe()
            await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]  # typed from redis 6

    async def close(self) -> None:
        if self._owned:
            await self.redis.aclose()


class _RedisSubscription:
    def __init__(self, pubsub: PubSub) -> None:
        self._pubsub = pubsub

    async def get(self, timeout: float | None = None) -> bytes | None:  # noqa: ASYNC109
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - loop.time())
            message = await self._pubsub.get_message(
                ignore_subscribe_messages=True, timeout=1.0 if left is None else left
            )
            if message is not None and message.get("type") == "message":
                data = message["data"]
                return data if isinstance(data, bytes) else str(data).encode()
            if deadline is not None and loop.time() >= deadline:
                return None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            data = await self.get()
            if data is not None:
                yield data


class MemoryCache:
    """The same API in one process (a single instance with no Redis)."""

    def __init__(self, prefix: str = "lightbox:") -> None:
        self.prefix = prefix
        self._presence: dict[str, Presence] = {}
        self._channels: dict[str, set[asyncio.Queue[bytes]]] = {}

    async def set_presence(self, device_id: str, online: bool, at: datetime) -> bool:
        old = self._presence.get(device_id)
        if old is not None and at < old.at:
            return False
        self._presence[device_id] = Presence(online, at)
        return True

    async def get_presence(self, device_ids: Iterable[str]) -> dict[str, Presence]:
        return {i: self._presence[i] for i in device_ids if i in self._presence}

    async def publish(self, channel: str, data: bytes) -> int:
        queues = self._channels.get(channel, set())
        for queue in queues:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(data)
        return len(queues)

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscription]:
        queue: asyncio.Queue[bytes] = asyncio.Queue(MAX_QUEUED)
        self._channels.setdefault(channel, set()).add(queue)
        try:
            yield _MemorySubscription(queue)
        finally:
            subscribers = self._channels.get(channel, set())
            subscribers.discard(queue)
            if not subscribers:
                self._channels.pop(channel, None)

    async def close(self) -> None:
        self._channels.clear()


class _MemorySubscription:
    def __init__(self, queue: asyncio.Queue[bytes]) -> None:
        self._queue = queue

    async def get(self, timeout: float | None = None) -> bytes | None:  # noqa: ASYNC109
        try:
            async with asyncio.timeout(timeout):
                return await self._queue.get()
        except TimeoutError:
            return None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            yield await self._queue.get()
