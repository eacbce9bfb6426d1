"""Presence: which devices are connected to the cloud broker, from their ``status`` topic.

A LightBox publishes ``lightbox/<id>/status`` = ``online`` (retained) when it connects, and
its last will sets ``offline`` (retained) when its connection dies; a clean stop publishes
``offline`` itself. :class:`PresenceWatcher` subscribes to ``lightbox/+/status`` and calls
``on_presence(device_id, online, at)`` for every change it sees.

**Every instance subscribes, not shared.** A shared subscription
(``$share/lightbox-cloud/...``) would split status messages between instances, but brokers
do not deliver retained messages on shared subscriptions (MQTT 5, section 4.8.2), so a
fresh instance would not learn the current presence without a separate sweep, and no
instance would hold the whole picture. Status changes are rare (one per connect or
disconnect), so each instance receiving all of them costs little; in exchange:

- at start (and after every reconnect to the broker) the retained messages give every
  instance the current presence of every device, with no sweep;
- each instance keeps a complete in-memory map, so :meth:`PresenceWatcher.is_online` answers
  the relay's "is it online?" without a round trip to Redis;
- the updates are idempotent: N instances write the same value; ``on_presence`` is only
  called when this instance sees a device's presence change (or first learns it).

``at`` is when this instance learned it. For a retained message received at start that is
"now", not when the device connected or vanished (MQTT carries no timestamp): a device
that went offline while every instance was down gets that instance's start time.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import aiomqtt

from lightbox.cloud.broker.connection import BrokerConnection
from lightbox.protocol.topics import OFFLINE, ONLINE, PREFIX, check_device_id

__all__ = ["PresenceCallback", "PresenceWatcher"]

logger = logging.getLogger(__name__)

PresenceCallback = Callable[[str, bool, datetime], Awaitable[None] | None]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class PresenceWatcher:
    """Tracks ``online``/``offline`` of every device through ``connection``."""

    def __init__(
        self,
        connection: BrokerConnection,
        on_presence: PresenceCallback | None = None,
        *,
        prefix: str = PREFIX,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._on_presence = on_presence
        self._prefix = prefix
        self._clock = clock
        self._online: dict[str, bool] = {}
        self._changed = asyncio.Condition()
        self.topic_filter = f"{prefix}/+/status"
        connection.subscribe(self.topic_filter, self._on_message, qos=1, name="presence")

    def is_online(self, device_id: str) -> bool | None:
        """True/False as last seen; None if this instance has never heard of the device."""
        return self._online.get(device_id)

    def online_devices(self) -> set[str]:
        return {device for device, online in self._online.items() if online}

    async def wait_for(self, device_id: str, online: bool, timeout: float) -> None:  # noqa: ASYNC109
        """Wait until ``device_id`` is seen ``online`` (or offline); TimeoutError after."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: self._online.get(device_id) is online)

    async def _on_message(self, message: aiomqtt.Message) -> None:
        device_id = self._device_of(message.topic.value)
        if device_id is None:
            return
        payload = message.payload
        text = payload.decode(errors="replace") if isinstance(payload, bytes) else str(payload)
        text = text.strip()
        if text == ONLINE:
            online = True
        elif text in (OFFLINE, ""):  # an empty retained message clears the topic
            online = False
        else:
            logger.warning(
                "device %s: ignoring status %r (expected %r or %r)",
                device_id,
                text[:40],
                ONLINE,
                OFFLINE,
            )
            return
        if self._online.get(device_id) is online:
            return
        self._online[device_id] = online
        at = self._clock()
        logger.info(
            "device %s: %s%s",
            device_id,
            ONLINE if online else OFFLINE,
            " (retained)" if message.retain else "",
        )
        async with self._changed:
            self._changed.notify_all()
        if self._on_presence is not None:
            outcome = self._on_presence(device_id, online, at)
            if inspect.isawaitable(outcome):
                await outcome

    def _device_of(self, topic: str) -> str | None:
        head = f"{self._prefix}/"
        if not topic.startswith(head) or not topic.endswith("/status"):
            return None
        device_id = topic[len(head) : -len("/status")]
        try:
            return check_device_id(device_id)
        except ValueError:
            logger.warning("ignoring a status message on %s: not a device id", topic)
            return None
