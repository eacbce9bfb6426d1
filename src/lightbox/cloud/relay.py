"""Remote control: relay a command to a device through the cloud broker, across instances.

:class:`MqttRelay` implements :class:`~lightbox.cloud.interfaces.Relay`.
:meth:`MqttRelay.send`:

1. refuses at once with :class:`~lightbox.cloud.errors.DeviceOffline` when presence says
   the device is offline or has never been seen;
2. gives the command a fresh ``id`` when it has none (results are matched by id; a
   LightBox applies an id once, so a retried id is harmless);
3. with Redis, records the route ``relay:route:<device>:<id>`` -> this instance's id
   (expiring shortly after the timeout);
4. publishes the command on ``lightbox/<device>/cmd`` at QoS 1 with an MQTT 5 message
   expiry equal to the timeout, so the broker drops it rather than delivering it to a
   device that reconnects after the caller has given up;
5. waits for the :class:`~lightbox.protocol.CommandResult` with that id from
   ``lightbox/<device>/cmd/result``; none in time -> :class:`RelayTimeout`.

**Across instances.** With a shared cache (Redis), results arrive on the *shared*
subscription ``$share/lightbox-cloud/lightbox/+/cmd/result``: the broker gives each result to
exactly one instance. That instance resolves its own waiter if it has one; otherwise it
forwards the result through the cache's pub/sub (:mod:`lightbox.cloud.cache`):

- a command id made by the relay names the instance that sent it
  (``<instance id>.<random>``), so its result goes straight to that instance's channel
  ``relay:instance:<instance id>``;
- a command id chosen by the caller (kept as is: it is the device's idempotency key) says
  nothing about its sender, so its result goes to ``relay:results``, which every instance
  hears and ignores unless it waits for that id.

No Redis write per command, one Redis subscription pair per instance, and a result crosses
Redis only when it reached an instance other than its sender.

**Without a cache** (or with the in-process :class:`~lightbox.cloud.cache.MemoryCache`,
which cannot reach other instances) every instance subscribes to ``lightbox/+/cmd/result``
unshared and simply ignores results it is not waiting for: right for one instance,
workable for a few.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import math
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiomqtt
from pydantic import ValidationError

from lightbox.cloud.broker.connection import BrokerConnection, NotConnected, shared
from lightbox.cloud.cache import Cache, MemoryCache
from lightbox.cloud.errors import DeviceOffline, RelayTimeout
from lightbox.protocol import Command, CommandResult
from lightbox.protocol.topics import PREFIX, DeviceTopics, check_device_id

__all__ = ["BROADCAST_CHANNEL", "MqttRelay", "OnlineCheck", "RelayStats"]

logger = logging.getLogger(__name__)

OnlineCheck = Callable[[str], "bool | Awaitable[bool | None] | None"]
"""Is this device connected? (True, False, or None when unknown: treated as offline.)"""

BROADCAST_CHANNEL = "relay:results"
_INSTANCE_ID = re.compile(r"^[\x21-\x2d\x2f-\x7e]{1,39}$")  # printable, no '.', room left
_ID_RANDOM_HEX = 24


@dataclass
class RelayStats:
    """Counters of one relay instance (for tests, benchmarks and metrics)."""

    sent: int = 0
    answered: int = 0
    timeouts: int = 0
    offline: int = 0
    forwarded_out: int = 0
    """Results this instance received for a command another instance sent."""
    forwarded_in: int = 0
    """Results of this instance's commands that another instance received."""


class MqttRelay:
    """Sends commands to devices through ``connection``; waits for their results.

    ``is_online`` is usually :meth:`PresenceWatcher.is_online
    <lightbox.cloud.broker.presence.PresenceWatcher.is_online>`. ``cache`` is optional with
    one instance, required for several sharing the results subscription. :meth:`start`
    before use and :meth:`stop` after (they run the cache listeners).
    """

    def __init__(
        self,
        connection: BrokerConnection,
        is_online: OnlineCheck,
        *,
        cache: Cache | None = None,
        instance_id: str | None = None,
        prefix: str = PREFIX,
        shared_results: bool | None = None,
    ) -> None:
        self._connection = connection
        self._is_online = is_online
        self._cache = cache
        self.instance_id = instance_id or f"cloud-{uuid.uuid4().hex[:12]}"
        self._routable = bool(_INSTANCE_ID.match(self.instance_id))
        self._prefix = prefix
        self._pending: dict[tuple[str, str], list[asyncio.Future[CommandResult]]] = {}
        self._listeners: list[asyncio.Task[None]] = []
        self.stats = RelayStats()
        results = f"{prefix}/+/cmd/result"
        if shared_results is None:  # an in-process cache cannot forward between instances
            shared_results = cache is not None and not isinstance(cache, MemoryCache)
        self.results_filter = shared(results) if shared_results else results
        connection.subscribe(self.results_filter, self._on_result, qos=1, name="relay")

    # -- life cycle -----------------------------------------------------------------------

    @property
    def channel(self) -> str:
        """This instance's channel for results received by other instances."""
        return f"relay:instance:{self.instance_id}"

    async def start(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Subscribe to this instance's cache channels (no-op without a cache)."""
        if self._cache is None or self._listeners:
            return
        loop = asyncio.get_running_loop()
        ready = [loop.create_future() for _ in range(2)]
        self._listeners = [
            asyncio.create_task(self._listen(channel, up), name=f"relay-{channel}")
            for channel, up in zip((self.channel, BROADCAST_CHANNEL), ready, strict=True)
        ]
        try:
            async with asyncio.timeout(timeout):
                await asyncio.gather(*ready)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        listeners, self._listeners = self._listeners, []
        for task in listeners:
            task.cancel()
        await asyncio.gather(*listeners, return_exceptions=True)

    # -- Relay ----------------------------------------------------------------------------

    async def send(self, device_id: str, command: Command, timeout: float) -> CommandResult:  # noqa: ASYNC109
        topics = DeviceTopics(check_device_id(device_id), self._prefix)
        if not await self._online(device_id):
            self.stats.offline += 1
            raise DeviceOffline(device_id)
        if command.id is None:
            command = command.model_copy(update={"id": self._new_id()})
        command_id = command.id
        assert command_id is not None
        key = (device_id, command_id)
        future: asyncio.Future[CommandResult] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(key, []).append(future)
        log = logging.LoggerAdapter(logger, {"device_id": device_id})
        try:
            async with asyncio.timeout(timeout):
                try:
                    await self._connection.publish(
                        topics.cmd,
                        command.model_dump_json(by_alias=True),
                        qos=1,
                        expiry_s=max(1, math.ceil(timeout)),
                    )
                except NotConnected as err:
                    self.stats.offline += 1
                    raise DeviceOffline(
                        device_id,
                        "the cloud cannot reach its broker right now; try again in a moment",
                    ) from err
                self.stats.sent += 1
                log.debug("device %s: command %s sent", device_id, command_id)
                result = await future
                self.stats.answered += 1
                return result
        except TimeoutError as err:
            self.stats.timeouts += 1
            log.info("device %s: no result for command %s in %g s", device_id, command_id, timeout)
            raise RelayTimeout(device_id, timeout) from err
        finally:
            waiting = self._pending.get(key, [])
            with contextlib.suppress(ValueError):
                waiting.remove(future)
            if not waiting:
                self._pending.pop(key, None)

    @property
    def in_flight(self) -> int:
        """Commands this instance is waiting for."""
        return sum(len(w) for w in self._pending.values())

    # -- results ----------------------------------------------------------------------------

    def _new_id(self) -> str:
        random = uuid.uuid4().hex[:_ID_RANDOM_HEX]
        return f"{self.instance_id}.{random}" if self._routable else random

    async def _on_result(self, message: aiomqtt.Message) -> None:
        device_id = self._device_of(message.topic.value)
        if device_id is None:
            return
        payload = message.payload
        try:
            result = CommandResult.model_validate_json(
                payload if isinstance(payload, bytes | str) else b""
            )
        except ValidationError as err:
            logger.warning(
                "device %s: ignoring a result that is not a CommandResult: %s",
                device_id,
                str(err).splitlines()[0],
            )
            return
        if result.id is None:
            logger.debug("device %s: ignoring a result without id", device_id)
            return
        if not self._resolve(device_id, result) and self._cache is not None:
            await self._forward(device_id, result)

    def _resolve(self, device_id: str, result: CommandResult) -> bool:
        assert result.id is not None
        waiting = self._pending.get((device_id, result.id))
        if not waiting:
            return False
        for future in waiting:
            if not future.done():
                future.set_result(result)
        return True

    async def _forward(self, device_id: str, result: CommandResult) -> None:
        """Hand a result to the instance waiting for it, through the cache's pub/sub."""
        assert self._cache is not None
        assert result.id is not None
        sender, dot, _ = result.id.rpartition(".")
        channel = f"relay:instance:{sender}" if dot and _INSTANCE_ID.match(sender) else None
        body = json.dumps(
            {"device_id": device_id, "result": result.model_dump(mode="json", by_alias=True)}
        ).encode()
        self.stats.forwarded_out += 1
        try:
            if channel is None or await self._cache.publish(channel, body) == 0:
                # not ours to route, or its sender is gone: whoever waits will hear it
                await self._cache.publish(BROADCAST_CHANNEL, body)
        except Exception as err:  # Redis down: the caller times out, the relay goes on
            logger.warning("device %s: could not forward result %s: %s", device_id, result.id, err)

    async def _listen(self, channel: str, ready: asyncio.Future[None]) -> None:
        assert self._cache is not None
        while True:
            try:
                async with self._cache.subscribe(channel) as subscription:
                    if not ready.done():
                        ready.set_result(None)
                    async for data in subscription:
                        self._on_forwarded(data)
            except asyncio.CancelledError:
                raise
            except Exception as err:
                if not ready.done():
                    ready.set_exception(err)
                    return
                logger.warning("relay: cache channel %s failed (%s); resubscribing", channel, err)
                await asyncio.sleep(1.0)

    def _on_forwarded(self, data: bytes) -> None:
        try:
            body = json.loads(data)
            device_id = str(body["device_id"])
            result = CommandResult.model_validate(body["result"])
        except (TypeError, ValueError, KeyError) as err:
            logger.warning("relay: ignoring a malformed forwarded result: %s", err)
            return
        if result.id is not None and self._resolve(device_id, result):
            self.stats.forwarded_in += 1

    # -- helpers ------------------------------------------------------------------------------

    async def _online(self, device_id: str) -> bool:
        answer = self._is_online(device_id)
        if inspect.isawaitable(answer):
            answer = await answer
        return answer is True

    def _device_of(self, topic: str) -> str | None:
        head, tail = f"{self._prefix}/", "/cmd/result"
        if not topic.startswith(head) or not topic.endswith(tail):
            return None
        try:
            return check_device_id(topic[len(head) : -len(tail)])
        except ValueError:
            return None
