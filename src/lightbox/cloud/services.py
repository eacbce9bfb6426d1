"""Everything a running cloud instance holds, opened and closed in one place.

``await CloudServices.open(config)`` connects the database and Redis (or memory stand-ins
when ``redis_url`` is not set) and fills the two broker slots, ``broker_admin`` and
``relay``: with what the caller passes, else the in-memory ones (tests, one dev instance).
When none are passed and ``mqtt_url`` is set, they come from
:class:`lightbox.cloud.broker.service.CloudBroker` (started here; presence reports go to
:meth:`lightbox.cloud.devices.Devices.record_presence`).
``await services.close()`` closes only what ``open`` opened, in reverse order; plug-ins
register their own clean-up on ``exit_stack``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from lightbox.cloud.cache import Cache, MemoryCache, RedisCache
from lightbox.cloud.config import CloudConfig
from lightbox.cloud.db import create_engine, create_sessionmaker
from lightbox.cloud.interfaces import BrokerAdmin, Relay
from lightbox.cloud.memory import MemoryBrokerAdmin, MemoryRelay
from lightbox.cloud.ratelimit import Limits, MemoryRateLimiter, RateLimiter, RedisRateLimiter
from lightbox.cloud.security import Passwords

if TYPE_CHECKING:
    from lightbox.cloud.broker.service import CloudBroker

log = logging.getLogger(__name__)

DEFAULT_COMMAND_TIMEOUT_S = 10.0


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class CloudServices:
    config: CloudConfig
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    cache: Cache
    limiter: RateLimiter
    broker_admin: BrokerAdmin
    relay: Relay
    redis: Redis | None = None
    passwords: Passwords = field(default_factory=Passwords)
    limits: Limits = field(default_factory=Limits)
    clock: Callable[[], datetime] = utc_now
    command_timeout_s: float = DEFAULT_COMMAND_TIMEOUT_S
    exit_stack: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)

    @property
    def secret(self) -> bytes:
        return self.config.secret()

    @classmethod
    async def open(
        cls,
        config: CloudConfig,
        *,
        schema: str | None = None,
        broker_admin: BrokerAdmin | None = None,
        relay: Relay | None = None,
        passwords: Passwords | None = None,
        limits: Limits | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> CloudServices:
        """Connect everything ``config`` names. ``schema``: PostgreSQL schema (tests)."""
        config.secret()  # refuse to start without a signing secret
        stack = contextlib.AsyncExitStack()
        try:
            engine = create_engine(
                config.database_url, schema=schema, pool_size=config.database_pool_size
            )
            stack.push_async_callback(engine.dispose)
            redis: Redis | None = None
            cache: Cache
            limiter: RateLimiter
            if config.redis_url is not None:
                redis = Redis.from_url(config.redis_url)
                stack.push_async_callback(redis.aclose)
                await redis.ping()
                cache = RedisCache(redis, config.redis_prefix)
                limiter = RedisRateLimiter(redis, config.redis_prefix)
            else:
                cache = MemoryCache(config.redis_prefix)
                limiter = MemoryRateLimiter(config.redis_prefix)
            services = cls(
                config=config,
                engine=engine,
                sessionmaker=create_sessionmaker(engine),
                cache=cache,
                limiter=limiter,
                broker_admin=broker_admin or MemoryBrokerAdmin(),
                relay=relay or MemoryRelay(),
                redis=redis,
                passwords=passwords or Passwords(),
                limits=limits or Limits(),
                clock=clock or utc_now,
                exit_stack=stack,
            )
            if (broker_admin is None or relay is None) and config.mqtt_url is not None:
                broker = await _start_broker(services)
                services.broker_admin = broker_admin or broker
                services.relay = relay or broker.relay
        except BaseException:
            await stack.aclose()
            raise
        return services

    async def close(self) -> None:
        await self.exit_stack.aclose()


async def _start_broker(services: CloudServices) -> CloudBroker:
    """The broker side for ``config.mqtt_url``: the instance's connection as the cloud
    service client (user and password from the URL), the dynamic-security admin, presence
    (recorded through :meth:`Devices.record_presence`) and the relay."""
    from urllib.parse import unquote, urlsplit

    from lightbox.cloud.broker.service import CloudBroker
    from lightbox.cloud.devices import Devices

    config = services.config
    assert config.mqtt_url is not None
    parts = urlsplit(config.mqtt_url)
    admin_password = config.mqtt_admin_password
    devices = Devices(services)

    async def on_presence(device_id: str, online: bool, at: datetime) -> None:
        await devices.record_presence(device_id, online, at)

    broker = CloudBroker(
        config.mqtt_url,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        admin_username=config.mqtt_admin_username,
        admin_password=admin_password.get_secret_value() if admin_password else None,
        cache=services.cache,
        on_presence=on_presence,
        instance_id=config.instance_id,
    )
    from lightbox.cloud.releases.context import subscribe_reports

    subscribe_reports(broker.connection, services)  # update reports (shared subscription)
    await broker.start()
    services.exit_stack.push_async_callback(broker.stop)
    from lightbox.cloud.sync import start_worker  # here: the sync package imports services

    await start_worker(services)  # state sync and telemetry from devices; stops with services
    return broker
