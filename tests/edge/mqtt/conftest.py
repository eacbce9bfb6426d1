"""Fixtures for the MQTT tests: the real broker, a broker of our own, a fake handler.

Every test gets its own topic prefix and device id, so tests never see each other's
messages, and cleans up its persistent sessions and retained messages afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import aiomqtt
import pytest

from lightbox.edge.mqtt import MqttLink, MqttSettings, parse_mqtt_url
from lightbox.protocol import (
    CommandResult,
    InvalidCommand,
    SetCommand,
    State,
    command_id_of,
    parse_command,
)
from lightbox.protocol.errors import ErrorInfo
from lightbox.protocol.topics import DeviceTopics

DEFAULT_TEST_URL = "mqtt://127.0.0.1:1883"


# -- a fake command handler -------------------------------------------------------------


class FakeHandler:
    """Applies ``set`` commands to a State; remembers results by id (idempotency)."""

    def __init__(self) -> None:
        self.state = State()
        self.results: dict[str, CommandResult] = {}
        self.applied: Counter[str] = Counter()
        self.calls = 0
        self.explode_on: set[str] = set()
        self.delay_s = 0.0
        self.link: MqttLink | None = None

    async def handle_payload(self, payload: bytes, *, origin: str) -> CommandResult:
        assert origin == "mqtt"
        self.calls += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        try:
            command = parse_command(payload)
        except InvalidCommand as err:
            return CommandResult(id=command_id_of(payload), ok=False, error=err.info())
        if command.id is not None and command.id in self.results:
            return self.results[command.id]
        if command.id in self.explode_on:
            raise RuntimeError("boom")
        if not isinstance(command, SetCommand):
            result = CommandResult(
                id=command.id,
                ok=False,
                error=ErrorInfo(code="not_found", message="the fake only knows 'set'"),
            )
        else:
            changes = {
                key: value
                for key, value in (
                    ("power", command.power),
                    ("brightness", command.brightness),
                    ("scene", command.scene),
                )
                if value is not None
            }
            self.state = self.state.model_copy(
                update={**changes, "version": self.state.version + 1}
            )
            result = CommandResult(id=command.id, ok=True, version=self.state.version)
            if command.id is not None:
                self.applied[command.id] += 1
        if command.id is not None:
            self.results[command.id] = result
        return result

    def current_state(self) -> State:
        return self.state


# -- brokers ----------------------------------------------------------------------------


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def skip_or_fail(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this is a failure)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def broker_url() -> str:
    """The real Mosquitto (``LIGHTBOX_TEST_MQTT_URL``, default mqtt://127.0.0.1:1883)."""
    url = os.environ.get("LIGHTBOX_TEST_MQTT_URL", DEFAULT_TEST_URL)
    parsed = parse_mqtt_url(url)
    if not _reachable(parsed.host, parsed.port):
        skip_or_fail(f"no MQTT broker at {url} (set LIGHTBOX_TEST_MQTT_URL or start mosquitto)")
    return url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class MosquittoProcess:
    """A mosquitto of our own, on a free port, with persistence in a temporary dir."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self.config = data_dir / "mosquitto.conf"
        self.config.write_text(
            # Run as root, mosquitto switches to the `mosquitto` user and then cannot
            # write its database in our temporary dir: stay the user we are.
            f"user {pwd.getpwuid(os.getuid()).pw_name}\n"
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {data_dir}/\n"
            "max_queued_messages 100000\n"
            f"log_dest file {data_dir}/mosquitto.log\n"
            "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        assert self.proc is None
        self.proc = subprocess.Popen(
            ["mosquitto", "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.starts += 1
        deadline = time.monotonic() + 10
        while not _reachable("127.0.0.1", self.port):
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}: {err}")
            if time.monotonic() > deadline:
                raise RuntimeError("mosquitto did not start listening within 10 s")
            time.sleep(0.02)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """SIGTERM: a clean shutdown that saves sessions and queued messages to disk."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        proc.send_signal(sig)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        path = self.data_dir / "mosquitto.log"
        return path.read_text() if path.exists() else ""


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[MosquittoProcess]:
    if shutil.which("mosquitto") is None:
        skip_or_fail("the mosquitto binary is not on PATH")
    broker = MosquittoProcess(tmp_path)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


# -- per-test identities ----------------------------------------------------------------


@dataclass
class Device:
    """A fresh device id and topic prefix for one test."""

    device_id: str
    prefix: str

    @property
    def topics(self) -> DeviceTopics:
        return DeviceTopics(self.device_id, self.prefix)

    def settings(self, url: str, **extra: object) -> MqttSettings:
        values: dict[str, object] = {
            "url": url,
            "topic_prefix": self.prefix,
            "reconnect_min_s": 0.1,
            "reconnect_max_s": 1.0,
            **extra,
        }
        return MqttSettings.model_validate(values)


async def forget(url: str, client_ids: list[str], topics: list[str]) -> None:
    """Delete persistent sessions and clear retained messages left by a test."""
    parsed = parse_mqtt_url(url)
    with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
        async with asyncio.timeout(10):
            for client_id in client_ids:
                async with aiomqtt.Client(
                    parsed.host, parsed.port, identifier=client_id, clean_session=True
                ):
                    pass
            async with aiomqtt.Client(parsed.host, parsed.port) as client:
                for topic in topics:
                    await client.publish(topic, b"", qos=1, retain=True)


@pytest.fixture
async def device(broker_url: str) -> AsyncIterator[Device]:
    tag = uuid.uuid4().hex[:10]
    dev = Device(device_id=f"dev-{tag}", prefix=f"test-{tag}")
    yield dev
    t = dev.topics
    await forget(
        broker_url,
        [f"lightbox-{dev.device_id}", f"watch-{tag}", f"pub-{tag}"],
        [t.status, t.state, t.info, t.cmd],
    )


# -- running a link and watching topics ---------------------------------------------------


class RunningLink:
    """Runs an MqttLink as a task; stops it on exit."""

    def __init__(self, link: MqttLink) -> None:
        self.link = link
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> MqttLink:
        self.task = asyncio.create_task(self.link.run(), name=f"link-{self.link.device_id}")
        await self.link.wait_connected(10)
        return self.link

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.link.stop()
        assert self.task is not None
        async with asyncio.timeout(10):
            await self.task


class Watcher:
    """Subscribes to topics (QoS 1) and records every message, reconnecting if needed."""

    def __init__(
        self,
        url: str,
        topics: list[str],
        *,
        client_id: str | None = None,
        persistent: bool = False,
    ) -> None:
        parsed = parse_mqtt_url(url)
        self.host, self.port = parsed.host, parsed.port
        self.topics = topics
        self.client_id = client_id
        self.persistent = persistent
        self.messages: list[aiomqtt.Message] = []
        self._changed = asyncio.Event()
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Watcher:
        self._task = asyncio.create_task(self._run())
        async with asyncio.timeout(10):
            await self._ready.wait()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client(
                    self.host,
                    self.port,
                    identifier=self.client_id,
                    clean_session=not self.persistent,
                ) as client:
                    for topic in self.topics:
                        await client.subscribe(topic, qos=1)
                    self._ready.set()
                    async for message in client.messages:
                        self.messages.append(message)
                        self._changed.set()
            except aiomqtt.MqttError:
                await asyncio.sleep(0.1)

    def on(self, topic: str) -> list[aiomqtt.Message]:
        return [m for m in self.messages if m.topic.value == topic]

    async def wait_for(
        self,
        predicate: Callable[[list[aiomqtt.Message]], bool],
        limit_s: float = 10.0,
        what: str = "messages",
    ) -> list[aiomqtt.Message]:
        try:
            async with asyncio.timeout(limit_s):
                while not predicate(self.messages):
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            seen = [(m.topic.value, m.payload[:80]) for m in self.messages[-10:]]
            raise AssertionError(f"timed out waiting for {what}; last seen: {seen}") from None
        return self.messages

    async def wait_payload(self, topic: str, payload: bytes, limit_s: float = 10.0) -> None:
        await self.wait_for(
            lambda ms: any(m.topic.value == topic and m.payload == payload for m in ms),
            limit_s,
            what=f"{payload!r} on {topic}",
        )


async def publish(url: str, topic: str, *payloads: bytes | str, retain: bool = False) -> None:
    parsed = parse_mqtt_url(url)
    async with asyncio.timeout(10), aiomqtt.Client(parsed.host, parsed.port) as client:
        for payload in payloads:
            await client.publish(topic, payload, qos=1, retain=retain)


def results_by_id(watcher: Watcher, topic: str) -> dict[str | None, list[CommandResult]]:
    found: dict[str | None, list[CommandResult]] = {}
    for message in watcher.on(topic):
        result = CommandResult.model_validate_json(message.payload)
        found.setdefault(result.id, []).append(result)
    return found
