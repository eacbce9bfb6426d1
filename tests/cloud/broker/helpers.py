"""Test helpers for the cloud broker: our own Mosquitto with dynsec, Redis, MQTT clients.

Not fixtures, so that tests outside this package (relay, cloud link) can use them too:
each test module wraps them in a small fixture of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import aiomqtt
import pytest

from lightbox.cloud.broker.local import LocalMosquitto, mosquitto_missing

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
LIMIT_S = 10.0


def skip_or_fail(reason: str) -> None:
    """Skip on a laptop without the service; fail when ``CI`` is set."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this is a failure)")
    pytest.skip(reason)


@contextlib.contextmanager
def dynsec_broker(directory: Path) -> Iterator[LocalMosquitto]:
    """A Mosquitto on a free port with the dynamic security plugin, auth and deny-by-default."""
    missing = mosquitto_missing()
    if missing:
        skip_or_fail(missing)
    broker = LocalMosquitto(directory)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def redis_url() -> str:
    """The real Redis (``LIGHTBOX_TEST_REDIS_URL``), skipped (or failed on CI) when absent."""
    url = os.environ.get("LIGHTBOX_TEST_REDIS_URL", DEFAULT_REDIS_URL)
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), 1.0):
            pass
    except OSError:
        skip_or_fail(f"no Redis at {url} (set LIGHTBOX_TEST_REDIS_URL or start redis-server)")
    return url


def tag() -> str:
    return uuid.uuid4().hex[:10]


def client(
    broker: LocalMosquitto,
    username: str | None,
    password: str | None,
    *,
    identifier: str | None = None,
    v5: bool = False,
    will: aiomqtt.Will | None = None,
) -> aiomqtt.Client:
    return aiomqtt.Client(
        broker.host,
        broker.port,
        username=username,
        password=password,
        identifier=identifier or f"test-{tag()}",
        protocol=aiomqtt.ProtocolVersion.V5 if v5 else aiomqtt.ProtocolVersion.V311,
        clean_session=None if v5 else True,
        will=will,
        timeout=LIMIT_S,
    )


def cloud_client(broker: LocalMosquitto) -> aiomqtt.Client:
    """A client with the cloud service's credentials (may see ``lightbox/#``)."""
    return client(broker, broker.cloud_username, broker.cloud_password)


async def connect_refused(c: aiomqtt.Client) -> int:
    """Connect and expect a refusal; the CONNACK reason code."""
    try:
        async with asyncio.timeout(LIMIT_S), c:
            pass
    except aiomqtt.MqttCodeError as err:
        code = getattr(err.rc, "value", err.rc)
        return code if isinstance(code, int) else -1
    raise AssertionError("the broker accepted a connection it should have refused")


def settle(c: aiomqtt.Client) -> None:
    """Mark aiomqtt's "disconnected" future as seen after the broker dropped ``c``."""
    future = getattr(c, "_disconnected", None)
    if isinstance(future, asyncio.Future) and future.done() and not future.cancelled():
        future.exception()


class Recorder:
    """Collects the messages of a connected client in the background."""

    def __init__(self, c: aiomqtt.Client) -> None:
        self.client = c
        self.messages: list[aiomqtt.Message] = []
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._read())

    async def ended(self) -> None:
        """Wait until the message stream ends (the broker dropped the connection)."""
        assert self._task is not None
        await self._task

    async def _read(self) -> None:
        with contextlib.suppress(aiomqtt.MqttError):
            async for message in self.client.messages:
                self.messages.append(message)
                self._changed.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def on(self, topic: str) -> list[bytes]:
        return [
            m.payload if isinstance(m.payload, bytes) else str(m.payload).encode()
            for m in self.messages
            if m.topic.value == topic
        ]

    async def wait_for(
        self, predicate: Callable[[], bool], what: str, limit_s: float = LIMIT_S
    ) -> None:
        try:
            async with asyncio.timeout(limit_s):
                while not predicate():
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            seen = [(m.topic.value, m.payload) for m in self.messages[-10:]]
            raise AssertionError(f"timed out waiting for {what}; seen: {seen}") from None


@contextlib.asynccontextmanager
async def recording(c: aiomqtt.Client, *topics: str) -> AsyncIterator[Recorder]:
    """Connect ``c``, subscribe to ``topics`` (QoS 1) and record what arrives."""
    async with asyncio.timeout(LIMIT_S):
        await c.__aenter__()
    recorder = Recorder(c)
    try:
        for topic in topics:
            await c.subscribe(topic, qos=1, timeout=LIMIT_S)
        recorder.start()
        yield recorder
    finally:
        await recorder.stop()
        with contextlib.suppress(Exception):
            await c.__aexit__(None, None, None)
        settle(c)
