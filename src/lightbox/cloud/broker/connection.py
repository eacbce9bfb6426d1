"""One cloud instance's connection to the cloud broker, shared by presence and the relay.

:class:`BrokerConnection` connects as the cloud service client (MQTT 5, clean start, a
client id of its own per instance), subscribes to what its :class:`Subscription` s ask for,
and hands each message to the subscription's handler. It reconnects forever with
exponential backoff and jitter, and subscribes again after every connect.

Each subscription has its own queue and worker task: messages reach a handler in the order
the broker sent them, one at a time, and a slow handler (presence writing to the database)
never delays another (relay results). A handler that raises is logged; the subscription
goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import ssl
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from lightbox.cloud.broker.config import SHARE_GROUP
from lightbox.edge.mqtt.link import Backoff
from lightbox.edge.mqtt.settings import parse_mqtt_url

__all__ = ["BrokerConnection", "NotConnected", "Subscription", "shared"]

logger = logging.getLogger(__name__)

Handler = Callable[[aiomqtt.Message], Awaitable[None] | None]
OPERATION_TIMEOUT_S = 10.0
STABLE_CONNECTION_S = 10.0


def shared(topic_filter: str, group: str = SHARE_GROUP) -> str:
    """``$share/<group>/<filter>``: each message goes to one member of the group."""
    return f"$share/{group}/{topic_filter}"


def _plain_filter(topic_filter: str) -> str:
    if topic_filter.startswith("$share/"):
        return topic_filter.split("/", 2)[2]
    return topic_filter


class NotConnected(Exception):
    """The instance is not connected to the cloud broker right now."""


@dataclass
class Subscription:
    """A topic filter (``$share/...`` allowed), its QoS and the handler of its messages."""

    topic_filter: str
    handler: Handler
    qos: int = 1
    name: str = ""
    _queue: asyncio.Queue[aiomqtt.Message] = field(default_factory=asyncio.Queue, repr=False)

    def matches(self, topic: aiomqtt.Topic) -> bool:
        return topic.matches(_plain_filter(self.topic_filter))


class BrokerConnection:
    """The cloud service's MQTT connection; :meth:`run` it as a task, :meth:`stop` it."""

    def __init__(
        self,
        mqtt_url: str,
        username: str | None = None,
        password: str | None = None,
        *,
        client_id: str | None = None,
        tls_context: ssl.SSLContext | None = None,
        keepalive: int = 30,
        reconnect_min_s: float = 0.5,
        reconnect_max_s: float = 30.0,
        mqtt5: bool = True,
    ) -> None:
        parsed = parse_mqtt_url(mqtt_url)
        # MQTT 5 for message expiry (relay commands); a connection that needs none of it
        # (the sync worker) speaks 3.1.1: paho decodes a property set for every 5.0 packet
        self._protocol = aiomqtt.ProtocolVersion.V5 if mqtt5 else aiomqtt.ProtocolVersion.V311
        self._host, self._port = parsed.host, parsed.port
        self._username = username or parsed.username
        self._password = password or parsed.password
        if parsed.tls and tls_context is None:
            tls_context = ssl.create_default_context()
        self._tls = tls_context
        self.client_id = client_id or f"lightbox-cloud-{uuid.uuid4().hex[:12]}"
        self._keepalive = keepalive
        self._backoff = (reconnect_min_s, reconnect_max_s)
        self._subscriptions: list[Subscription] = []
        self._client: aiomqtt.Client | None = None
        self._connected = asyncio.Event()
        self._stop = asyncio.Event()
        self._running = False
        self._finished = asyncio.Event()
        self._on_connect: list[Callable[[], None]] = []
        self._log = logging.LoggerAdapter(logger, {"client_id": self.client_id})

    def on_connect(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` after every (re)connect, once subscribed."""
        self._on_connect.append(callback)

    def subscribe(
        self, topic_filter: str, handler: Handler, *, qos: int = 1, name: str = ""
    ) -> Subscription:
        """Add a subscription (before :meth:`run`; it is made again on every connect)."""
        if self._running:
            raise RuntimeError("add subscriptions before the connection runs")
        sub = Subscription(topic_filter, handler, qos, name or topic_filter)
        self._subscriptions.append(sub)
        return sub

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        await asyncio.wait_for(self._connected.wait(), timeout)

    async def publish(
        self,
        topic: str,
        payload: bytes | str,
        *,
        qos: int = 1,
        retain: bool = False,
        expiry_s: int | None = None,
        timeout: float = OPERATION_TIMEOUT_S,  # noqa: ASYNC109
    ) -> None:
        """Publish (waiting for the PUBACK at QoS 1); :class:`NotConnected` when offline.

        ``expiry_s`` sets the MQTT 5 message expiry: the broker drops the message if it
        could not deliver it in time (a command must not run long after its caller gave up).
        """
        client = self._client
        if client is None or not self.connected:
            raise NotConnected(f"not connected to the cloud broker {self._host}:{self._port}")
        properties = None
        if expiry_s is not None:
            properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            properties.MessageExpiryInterval = max(1, expiry_s)
        try:
            await client.publish(
                topic, payload, qos=qos, retain=retain, properties=properties, timeout=timeout
            )
        except aiomqtt.MqttError as err:
            raise NotConnected(f"publishing on {topic} failed: {err}") from err

    def publish_nowait(self, topic: str, payload: bytes | str, *, qos: int = 1) -> None:
        """Queue a publish on the connection without waiting for its PUBACK.

        For answers the receiver asks again for when one is lost (sync acks: the device
        sends its delta again until it is acknowledged); raises :class:`NotConnected` when
        there is no connection to queue it on.
        """
        client = self._client
        paho = getattr(client, "_client", None) if client is not None else None
        if client is None or paho is None or not self.connected:
            raise NotConnected(f"not connected to the cloud broker {self._host}:{self._port}")
        info = paho.publish(topic, payload, qos=qos)
        if info.rc != 0:  # MQTT_ERR_SUCCESS
            raise NotConnected(f"publishing on {topic} failed: rc {info.rc}")

    async def run(self) -> None:
        """Connect, subscribe, dispatch and reconnect, until :meth:`stop` or cancelled."""
        if self._running:
            raise RuntimeError("this broker connection is already running")
        self._running = True
        self._stop.clear()
        self._finished.clear()
        loop = asyncio.get_running_loop()
        backoff = Backoff(*self._backoff)
        workers = [
            asyncio.create_task(self._work(sub), name=f"broker-{sub.name}")
            for sub in self._subscriptions
        ]
        try:
            while not self._stop.is_set():
                started = loop.time()
                try:
                    await self._session()
                except aiomqtt.MqttError as err:
                    reason = str(err) or type(err).__name__
                except _Stopped:
                    break
                if self._stop.is_set():
                    break
                if loop.time() - started >= STABLE_CONNECTION_S:
                    backoff.reset()
                delay = backoff.next()
                self._log.warning(
                    "cloud broker %s:%s: connection lost or refused (%s); retrying in %.1f s",
                    self._host,
                    self._port,
                    reason,
                    delay,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
        finally:
            self._connected.clear()
            self._client = None
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            self._running = False
            self._finished.set()

    async def stop(self, timeout: float = OPERATION_TIMEOUT_S) -> None:  # noqa: ASYNC109
        """Disconnect cleanly; returns once :meth:`run` has ended (or after ``timeout``)."""
        self._stop.set()
        if self._running:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._finished.wait(), timeout)

    async def _session(self) -> None:
        session: dict[str, Any] = (
            {"clean_start": True}
            if self._protocol == aiomqtt.ProtocolVersion.V5
            else {"clean_session": True}
        )
        client = aiomqtt.Client(
            self._host,
            self._port,
            username=self._username,
            password=self._password,
            identifier=self.client_id,
            protocol=self._protocol,
            **session,
            keepalive=self._keepalive,
            tls_context=self._tls,
            timeout=OPERATION_TIMEOUT_S,
            logger=logging.getLogger(f"{__name__}.client"),
        )
        # Hundreds of publishes waiting for their PUBACK at once are normal here (relay,
        # sync replies): aiomqtt would log a warning for each one over 10.
        client.pending_calls_threshold = 100_000
        try:
            async with client:
                for sub in self._subscriptions:
                    granted = await client.subscribe(sub.topic_filter, qos=sub.qos)
                    codes = [getattr(code, "value", code) for code in granted]
                    if any(not isinstance(c, int) or c >= 0x80 for c in codes):
                        self._log.error(
                            "cloud broker refused the subscription to %s (%s): %s gets no "
                            "messages; give the cloud service client subscribePattern on it "
                            "(see docs/deploy-cloud.md)",
                            sub.topic_filter,
                            granted,
                            sub.name,
                        )
                self._client = client
                self._connected.set()
                self._log.info(
                    "cloud broker %s:%s: connected as %s", self._host, self._port, self.client_id
                )
                for callback in self._on_connect:
                    try:
                        callback()
                    except Exception:
                        self._log.exception("an on-connect callback failed")
                reader = asyncio.create_task(self._read(client))
                stop = asyncio.create_task(self._stop.wait())
                try:
                    done, _ = await asyncio.wait(
                        (reader, stop), return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    self._connected.clear()
                    self._client = None
                    for task in (reader, stop):
                        task.cancel()
                    await asyncio.gather(reader, stop, return_exceptions=True)
                if reader in done and not reader.cancelled() and reader.exception():
                    raise reader.exception()  # type: ignore[misc]
                if stop in done:
                    raise _Stopped
                raise aiomqtt.MqttError("the message stream ended")
        finally:
            _settle(client)

    async def _read(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            for sub in self._subscriptions:
                if sub.matches(message.topic):
                    sub._queue.put_nowait(message)

    async def _work(self, sub: Subscription) -> None:
        while True:
            message = await sub._queue.get()
            try:
                outcome = sub.handler(message)
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception:
                self._log.exception(
                    "handler of %s failed on a message on %s", sub.name, message.topic
                )


class _Stopped(Exception):
    pass


def _settle(client: aiomqtt.Client) -> None:
    """Mark aiomqtt's "disconnected" future as seen (no "exception never retrieved")."""
    future = getattr(client, "_disconnected", None)
    if isinstance(future, asyncio.Future) and future.done() and not future.cancelled():
        future.exception()
