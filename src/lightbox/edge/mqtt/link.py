"""The device side of MQTT: one LightBox's link to its broker.

:class:`MqttLink` keeps one persistent MQTT 3.1.1 session (``clean_session=False``) with
the broker for as long as it runs:

- on every connect it publishes ``status`` = ``online``, ``info`` and the current
  ``state`` (all retained, QoS 1) and subscribes to ``cmd`` at QoS 1; the last will sets
  ``status`` = ``offline`` when the connection dies without a DISCONNECT;
- every message on ``cmd`` goes to the :class:`CommandHandler`; its
  :class:`~lightbox.protocol.CommandResult` goes to ``cmd/result`` (QoS 1, not retained);
- a command is acknowledged (PUBACK) only after its result was published, so a command
  that was being handled when the LightBox crashed or lost the broker is delivered again
  (the handler's idempotency ids make that harmless);
- it reconnects forever, with exponential backoff and full jitter;
- :meth:`MqttLink.stop` publishes ``status`` = ``offline`` and disconnects cleanly.

The link never parses or applies a command itself: that is the handler's job, shared by
every transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import aiomqtt
import paho.mqtt.client as paho_mqtt
from paho.mqtt.enums import MQTTErrorCode
from pydantic import BaseModel

from lightbox.edge.mqtt.settings import MqttSettings
from lightbox.protocol import CommandResult, DeviceInfo, ErrorInfo, State, command_id_of
from lightbox.protocol.topics import OFFLINE, ONLINE, DeviceTopics

__all__ = ["Backoff", "CommandHandler", "LinkExtension", "MqttLink", "Publish"]

logger = logging.getLogger(__name__)

ORIGIN = "mqtt"
STABLE_CONNECTION_S = 10.0
"""A connection that lasted this long resets the reconnect backoff."""
STOP_GRACE_S = 5.0
"""How long :meth:`MqttLink.stop` lets a command being handled finish."""
IN_FLIGHT = 64
"""Commands handled at once. The handler applies them in arrival order (its lock is
fair), while storing one batch and answering it overlaps with the next: the link is not
limited to one disk write per command."""
OPERATION_TIMEOUT_S = 10.0
STATE_INTERVAL_S = 0.05
"""At most one ``state`` message per this interval: a burst of changes (a slider dragged,
hundreds of commands a second) is published as its latest state, one broker round trip
and one message per subscriber instead of one per change; a lone change goes out at once."""


class CommandHandler(Protocol):
    """What the link hands commands to (the LightBox service, or a fake in tests)."""

    async def handle_payload(self, payload: bytes, *, origin: str) -> CommandResult:
        """Parse and apply one raw command idempotently; never raise for bad input."""
        ...

    def current_state(self) -> State:
        """The state to publish (retained) right after connecting."""
        ...


Publish = Callable[[str, bytes], Awaitable[None]]
"""Publish ``payload`` on a topic at QoS 1 over the link's connection (waits for the PUBACK;
raises :class:`aiomqtt.MqttError` when the connection is gone)."""


class LinkExtension(Protocol):
    """More topics served over the same connection (the sync agent, telemetry).

    ``topics`` are subscribed at QoS 1 on every connect; a message on one of them goes to
    :meth:`handle` and is acknowledged (PUBACK) only once :meth:`handle` returned, so the
    broker delivers it again if the LightBox dies first. :meth:`attached` is called with a
    :data:`Publish` function once connected and subscribed, and with ``None`` when the
    connection ends.
    """

    def topics(self, topics: DeviceTopics) -> list[str]: ...

    async def handle(self, topic: str, payload: bytes) -> None: ...

    def attached(self, publish: Publish | None) -> None: ...


class Backoff:
    """Exponential backoff with full jitter: a delay in [min_s, min(max_s, min_s * 2^n)]."""

    def __init__(
        self, min_s: float, max_s: float, *, rand: Callable[[], float] = random.random
    ) -> None:
        self.min_s = min_s
        self.max_s = max_s
        self.attempt = 0
        self._rand = rand

    def next(self) -> float:
        cap = min(self.max_s, self.min_s * 2.0 ** min(self.attempt, 62))
        self.attempt += 1
        return self.min_s + self._rand() * (cap - self.min_s)

    def reset(self) -> None:
        self.attempt = 0


class _Stopped(Exception):
    """Internal: the session ended because stop() was called."""


class MqttLink:
    """A LightBox's MQTT link; :meth:`run` it as a task, :meth:`stop` it to go offline."""

    def __init__(
        self,
        settings: MqttSettings,
        device_id: str,
        handler: CommandHandler,
        *,
        info: Callable[[], DeviceInfo] | None = None,
        extensions: Sequence[LinkExtension] = (),
    ) -> None:
        self.topics = DeviceTopics(device_id, settings.topic_prefix)
        self._extensions = list(extensions)
        self._extension_of: dict[str, LinkExtension] = {
            topic: ext for ext in self._extensions for topic in ext.topics(self.topics)
        }
        self.device_id = device_id
        self.client_id = settings.client_id_for(device_id)
        self._settings = settings
        self._handler = handler
        self._info = info
        self._tls = settings.ssl_context()  # bad TLS files fail here, not in the loop
        self._log = logging.LoggerAdapter(logger, {"device_id": device_id})
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running = False
        self._connected = False
        self._connected_at = 0.0
        self._connected_event = asyncio.Event()
        self._stop_event = asyncio.Event()
        self._finished = asyncio.Event()
        self._handling: set[asyncio.Task[None]] = set()
        # Retained messages waiting to go out, latest per topic (coalesced).
        self._retained: dict[str, BaseModel] = {}
        self._retained_event = asyncio.Event()
        self._last_state: State | None = None

    # -- public API ---------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while connected, subscribed and announced ``online``."""
        return self._connected

    async def wait_connected(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Wait until :attr:`connected`; raise :class:`TimeoutError` after ``timeout`` s."""
        await asyncio.wait_for(self._connected_event.wait(), timeout)

    def publish_state(self, state: State) -> None:
        """Publish ``state`` retained (QoS 1) as soon as possible; never blocks.

        Only the latest state waits: a newer call replaces one not yet sent. Safe to call
        from the event loop or from another thread.
        """
        self._from_any_thread(self._queue_retained, self.topics.state, state)

    def publish_info(self) -> None:
        """Publish a fresh ``info`` (retained) as soon as possible; never blocks."""
        if self._info is not None:
            self._from_any_thread(self._queue_info)

    async def run(self) -> None:
        """Connect, serve commands and reconnect forever, until :meth:`stop` or cancelled."""
        if self._running:
            raise RuntimeError(f"the MQTT link of {self.device_id} is already running")
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._running = True
        self._stop_event.clear()
        self._finished.clear()
        backoff = Backoff(self._settings.reconnect_min_s, self._settings.reconnect_max_s)
        self._log.info(
            "device %s: MQTT link starting (broker %s, client id %s)",
            self.device_id,
            self._settings.url,
            self.client_id,
        )
        try:
            while not self._stop_event.is_set():
                self._connected_at = 0.0
                try:
                    await self._session()
                except _Stopped:
                    break
                except aiomqtt.MqttError as err:
                    reason = str(err) or type(err).__name__
                    was = "lost" if self._connected_at else "failed"
                except Exception as err:  # a bug must not end the link: log it and retry
                    self._log.exception("device %s: MQTT session crashed", self.device_id)
                    reason = repr(err)
                    was = "crashed"
                if self._stop_event.is_set():
                    break
                if self._connected_at and loop.time() - self._connected_at >= STABLE_CONNECTION_S:
                    backoff.reset()
                delay = backoff.next()
                self._log.warning(
                    "device %s: MQTT connection %s (%s); retrying in %.1f s",
                    self.device_id,
                    was,
                    reason,
                    delay,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop_event.wait(), delay)
        finally:
            self._set_connected(False)
            self._running = False
            self._finished.set()
            self._log.info("device %s: MQTT link stopped", self.device_id)

    async def stop(self) -> None:
        """Finish the command being handled, publish ``offline``, disconnect cleanly."""
        timeout = STOP_GRACE_S + 2 * OPERATION_TIMEOUT_S
        self._stop_event.set()
        if not self._running:
            return
        self._log.info("device %s: MQTT link stopping", self.device_id)
        try:
            await asyncio.wait_for(self._finished.wait(), timeout)
        except TimeoutError:
            self._log.warning(
                "device %s: MQTT link did not stop within %.0f s", self.device_id, timeout
            )

    # -- one connection -----------------------------------------------------------------

    def _client(self) -> aiomqtt.Client:
        settings = self._settings
        client = aiomqtt.Client(
            settings.host,
            settings.port,
            username=settings.username,
            password=settings.password.get_secret_value() if settings.password else None,
            identifier=self.client_id,
            clean_session=False,
            will=aiomqtt.Will(self.topics.status, OFFLINE, qos=1, retain=True),
            keepalive=settings.keepalive,
            tls_context=self._tls,
            timeout=OPERATION_TIMEOUT_S,
            logger=logging.getLogger(f"{__name__}.client"),
        )
        # aiomqtt acknowledges a QoS 1 message as soon as it is queued for us, before the
        # handler runs. Its paho client can defer the PUBACK: ack after the result is out.
        paho = _paho_of(client)
        if paho is not None:
            paho.manual_ack_set(True)
            # no client-side cap on QoS 1 messages in flight: up to IN_FLIGHT results wait
            # for their PUBACK at once (paho's default cap is 20)
            paho.max_inflight_messages_set(0)
            _Writes.install(client, paho)
            _QuickAcks.install(paho)
        # Up to IN_FLIGHT results plus the retained messages wait for their PUBACK at once:
        # that is normal here, not the backlog aiomqtt warns about (once per publish).
        client.pending_calls_threshold = 4 * IN_FLIGHT
        return client

    async def _session(self) -> None:
        """One connection, from CONNECT to its end; raises _Stopped after a stop()."""
        client = self._client()
        try:
            await self._connected_session(client)
        finally:
            _settle(client)

    async def _connected_session(self, client: aiomqtt.Client) -> None:
        async with client:
            await client.publish(self.topics.status, ONLINE, qos=1, retain=True)
            await client.subscribe(self.topics.cmd, qos=1)
            for topic in self._extension_of:
                await client.subscribe(topic, qos=1)
            self._set_connected(True)

            async def publish(topic: str, payload: bytes) -> None:
                await client.publish(topic, payload, qos=1, retain=False)

            for ext in self._extensions:
                ext.attached(publish)
            try:
                self._queue_info()
                self._queue_retained(self.topics.state, self._handler.current_state())
                await self._serve(client)
            except asyncio.CancelledError:
                # Cancelled instead of stopped: still say goodbye before the clean
                # DISCONNECT (which does not fire the will).
                with contextlib.suppress(aiomqtt.MqttError):
                    await client.publish(
                        self.topics.status, OFFLINE, qos=1, retain=True, timeout=2.0
                    )
                raise
            except _Stopped:
                await client.publish(self.topics.status, OFFLINE, qos=1, retain=True)
                raise
            finally:
                for ext in self._extensions:
                    ext.attached(None)
                self._set_connected(False)

    async def _serve(self, client: aiomqtt.Client) -> None:
        # aiomqtt's publish() does not notice a dead connection (it waits for its PUBACK
        # until its timeout), but iterating client.messages does, at once: a reader task
        # feeds the command task, and its end ends the session.
        inbox: asyncio.Queue[aiomqtt.Message] = asyncio.Queue()
        reader = asyncio.create_task(self._read(client, inbox), name="mqtt-reader")
        commands = asyncio.create_task(self._serve_commands(client, inbox), name="mqtt-commands")
        retained = asyncio.create_task(self._publish_retained(client), name="mqtt-retained")
        stop = asyncio.create_task(self._stop_event.wait(), name="mqtt-stop")
        tasks = (reader, commands, retained, stop)
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if stop in done:
                commands.cancel()  # take no new command; let those being handled answer
                if self._handling:
                    _, late = await asyncio.wait(set(self._handling), timeout=STOP_GRACE_S)
                    if late:
                        self._log.warning(
                            "device %s: %d commands still running at stop are cancelled",
                            self.device_id,
                            len(late),
                        )
        finally:
            await _cancel_all((*tasks, *self._handling))
        for task in (reader, commands, retained):
            error = task.exception() if task in done and not task.cancelled() else None
            if error is not None:
                raise error
        if stop in done:
            raise _Stopped
        raise aiomqtt.MqttError("the message stream ended")

    @staticmethod
    async def _read(client: aiomqtt.Client, inbox: asyncio.Queue[aiomqtt.Message]) -> None:
        async for message in client.messages:
            inbox.put_nowait(message)

    async def _serve_commands(
        self, client: aiomqtt.Client, inbox: asyncio.Queue[aiomqtt.Message]
    ) -> None:
        paho = _paho_of(client)
        window = asyncio.Semaphore(IN_FLIGHT)
        while True:
            message = await inbox.get()
            await window.acquire()
            task = asyncio.create_task(self._serve_one(client, paho, message, window))
            self._handling.add(task)
            task.add_done_callback(self._handling.discard)

    async def _serve_one(
        self,
        client: aiomqtt.Client,
        paho: paho_mqtt.Client | None,
        message: aiomqtt.Message,
        window: asyncio.Semaphore,
    ) -> None:
        try:
            extension = self._extension_of.get(message.topic.value)
            if message.topic.value == self.topics.cmd:
                result = await self._answer(message)
                # Acknowledged after the broker has the result (its PUBACK): a read between
                # the two writes. Queueing the result and the command's PUBACK back to back
                # was tried: with Nagle's algorithm on either end the second write waited
                # for a delayed ACK, 40 ms spikes at 100 commands/s.
                await client.publish(self.topics.result, _json(result), qos=1, retain=False)
            elif extension is not None:
                payload = message.payload
                await extension.handle(
                    message.topic.value, payload if isinstance(payload, bytes) else b""
                )
            else:  # e.g. a subscription left in the session by an older version
                self._log.debug("device %s: ignoring message on %s", self.device_id, message.topic)
            if paho is not None and message.qos > 0:
                paho.ack(message.mid, message.qos)
        finally:
            window.release()

    async def _answer(self, message: aiomqtt.Message) -> CommandResult:
        payload = message.payload
        command_id = command_id_of(payload)
        # A retained command (mosquitto_pub -r) comes again on every (re)subscribe, and
        # amqtt sets the retain flag on queued messages: the command id, not the flag,
        # is what keeps a repeat from being applied twice.
        try:
            result = await self._handler.handle_payload(payload, origin=ORIGIN)
        except Exception:
            self._log.exception(
                "device %s: command %s failed inside the LightBox", self.device_id, command_id
            )
            result = CommandResult(
                id=command_id,
                ok=False,
                error=ErrorInfo(
                    code="internal",
                    message="the LightBox failed while applying this command; "
                    "nothing else was changed; see its log",
                ),
            )
        if result.id is None and command_id is not None:
            result = result.model_copy(update={"id": command_id})
        if result.ok:
            state = self._handler.current_state()
            if state != self._last_state:
                self._queue_retained(self.topics.state, state)
        return result

    async def _publish_retained(self, client: aiomqtt.Client) -> None:
        loop = asyncio.get_running_loop()
        state_sent_at = -STATE_INTERVAL_S
        while True:
            await self._retained_event.wait()
            self._retained_event.clear()
            while self._retained:
                topic = next(iter(self._retained))
                if topic == self.topics.state:
                    wait = state_sent_at + STATE_INTERVAL_S - loop.time()
                    if wait > 0:
                        await asyncio.sleep(wait)  # newer states replace this one meanwhile
                    state_sent_at = loop.time()
                model = self._retained[topic]
                await client.publish(topic, _json(model), qos=1, retain=True)
                if self._retained.get(topic) is model:
                    del self._retained[topic]

    # -- helpers ------------------------------------------------------------------------

    def _set_connected(self, connected: bool) -> None:
        if connected == self._connected:
            return
        self._connected = connected
        if connected:
            self._connected_at = self._loop.time() if self._loop else 0.0
            self._connected_event.set()
            self._log.info(
                "device %s: MQTT connected to %s, online", self.device_id, self._settings.url
            )
        else:
            self._connected_event.clear()
            self._log.info("device %s: MQTT disconnected", self.device_id)

    def _queue_retained(self, topic: str, model: BaseModel) -> None:
        if topic == self.topics.state and isinstance(model, State):
            self._last_state = model
        self._retained[topic] = model
        self._retained_event.set()

    def _queue_info(self) -> None:
        if self._info is None:
            return
        try:
            info = self._info()
        except Exception:
            self._log.exception("device %s: could not build the info message", self.device_id)
            return
        self._queue_retained(self.topics.info, info)

    def _from_any_thread(self, func: Callable[..., None], *args: object) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is not loop:
                loop.call_soon_threadsafe(func, *args)
                return
        func(*args)


def _json(model: BaseModel) -> bytes:
    return model.model_dump_json(by_alias=True).encode()


async def _cancel_all(tasks: tuple[asyncio.Task[Any], ...]) -> None:
    """Cancel tasks and wait for their end, cancelling again those that ignored it.

    On Python 3.11 ``asyncio.wait_for`` (inside aiomqtt's publish) loses a cancellation
    that arrives together with its result (a PUBACK, say); the task then runs on.
    """
    pending = set(tasks)
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.5)


def _settle(client: aiomqtt.Client) -> None:
    """Mark aiomqtt's "disconnected" future as seen.

    When a connection dies while no one iterates ``client.messages`` (e.g. during a
    publish), aiomqtt leaves the error in a future nobody reads, and asyncio logs "Future
    exception was never retrieved" when it is collected.
    """
    future = getattr(client, "_disconnected", None)
    if isinstance(future, asyncio.Future) and future.done() and not future.cancelled():
        future.exception()


def _paho_of(client: aiomqtt.Client) -> paho_mqtt.Client | None:
    """The paho client inside aiomqtt, if this aiomqtt version still has one there."""
    paho = getattr(client, "_client", None)
    if isinstance(paho, paho_mqtt.Client) and hasattr(paho, "manual_ack_set"):
        return paho
    return None


class _Writes:
    """Writes paho's queued packets at the end of the event loop step that queued them.

    aiomqtt has the event loop watch the socket for writability whenever paho queues a
    packet, through ``call_soon_threadsafe`` (a wake-up of the loop through its self-pipe)
    and ``add_writer`` (an ``epoll_ctl``, another when paho is done): five system calls
    around every ``send``. A socket almost always takes a small packet at once, so here a
    queued packet schedules one ``loop_write`` with ``call_soon`` (from another thread,
    such as aiomqtt's connect, ``call_soon_threadsafe``); only a socket that cannot take
    everything is watched for writability. Each packet still goes out with a ``send`` of
    its own, as soon as before: joining them was tried, and with Nagle's algorithm on the
    broker's side fewer segments from us meant later ACKs and its next command waiting.
    """

    def __init__(
        self, client: aiomqtt.Client, paho: paho_mqtt.Client, loop: asyncio.AbstractEventLoop
    ) -> None:
        self._client = client
        self._paho = paho
        self._loop = loop
        self._flush_pending = False
        self._watching: int | None = None

    @classmethod
    def install(cls, client: aiomqtt.Client, paho: paho_mqtt.Client) -> None:
        """Take over paho's write callbacks from aiomqtt (left alone if its internals moved)."""
        loop = getattr(client, "_loop", None)
        if not isinstance(loop, asyncio.AbstractEventLoop) or not hasattr(client, "_disconnected"):
            return
        writes = cls(client, paho, loop)
        paho.on_socket_register_write = writes._register
        paho.on_socket_unregister_write = writes._unregister

    def _register(self, _paho: Any, _userdata: Any, sock: Any) -> None:
        if self._flush_pending:
            return
        self._flush_pending = True
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._loop.call_soon(self._flush, sock)
        else:
            self._loop.call_soon_threadsafe(self._flush, sock)

    def _unregister(self, _paho: Any, _userdata: Any, _sock: Any) -> None:
        if self._watching is not None:
            self._loop.remove_writer(self._watching)
            self._watching = None

    def _flush(self, sock: Any) -> None:
        self._flush_pending = False
        self._write()
        if self._paho.want_write() and self._watching is None:
            # the socket took part of it: let the event loop say when it takes more
            try:
                fd = sock.fileno()
            except (OSError, ValueError):
                return
            if fd >= 0:
                self._watching = fd
                self._loop.add_writer(fd, self._write)

    def _write(self) -> None:
        try:
            self._paho.loop_write()
        except Exception as exc:  # a broken pipe: the connection is gone
            disconnected = getattr(self._client, "_disconnected", None)
            if isinstance(disconnected, asyncio.Future) and not disconnected.done():
                disconnected.set_exception(exc)


class _QuickAcks:
    """Has the kernel acknowledge every segment from the broker at once.

    A broker with Nagle's algorithm on (Mosquitto's default: ``set_tcp_nodelay false``)
    holds a small packet while an earlier one is unacknowledged. Linux delays its ACK
    (up to 40 ms, "pingpong" mode) when it expects to send data soon anyway, which is the
    case here: every command is answered with a result and a PUBACK. So the next command
    waited in the broker for the previous one's ACK, and a stream of commands at 500/s
    saw a p99 of 6 to 20 ms where the broker's own round trip takes under 1 ms (see
    ``docs/benchmarks.md``). ``TCP_QUICKACK`` turns the delay off, but Linux resets it
    on its own, so it is set again after every read. Nothing changes where the option
    does not exist (not Linux) or the socket has none (a WebSocket transport).
    """

    def __init__(self, paho: paho_mqtt.Client) -> None:
        self._paho = paho
        self._read = paho.loop_read
        self._enabled = True

    @classmethod
    def install(cls, paho: paho_mqtt.Client) -> None:
        """Wrap the ``loop_read`` of this paho client (aiomqtt's reader calls it)."""
        if not hasattr(socket, "TCP_QUICKACK"):
            return
        paho.loop_read = cls(paho).loop_read  # type: ignore[method-assign]

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        rc = self._read(max_packets)
        if self._enabled:
            sock: Any = self._paho.socket()
            if sock is not None:
                try:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
                except (AttributeError, OSError):
                    self._enabled = False
        return rc
