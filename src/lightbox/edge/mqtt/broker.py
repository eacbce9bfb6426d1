"""An MQTT broker the LightBox starts itself when no broker URL is configured.

Two implementations behind one small class, :class:`EmbeddedBroker`:

``mosquitto`` (preferred, used when the ``mosquitto`` binary is on PATH)
    Mosquitto as a child process, with a generated config: one listener on ``host:port``,
    anonymous access, and persistence in ``data_dir`` (sessions, queued QoS 1 messages and
    retained messages survive a restart). Its log lines go to the ``lightbox.edge.mqtt.
    broker.mosquitto`` logger.

``amqtt`` (fallback: pure Python, in-process, for machines without Mosquitto)
    amqtt 0.12 serves QoS 1, retained messages and last wills. Its known limits, found by
    the tests of this module: sessions live in memory only (``data_dir`` is not used);
    messages queued for an offline persistent session are delivered with the retain flag
    set; a client may receive retained messages for filters other clients subscribed to;
    and now and then a CONNECT that arrives while another client disconnects is not
    answered (the client times out and retries). Good enough for a demo, not for a fleet.

Exceptions::

    BrokerError     the broker could not start (no implementation, port taken, crashed)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pwd
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any, Literal

from amqtt.plugins.base import BaseAuthPlugin

from lightbox.children import die_with_parent

__all__ = ["BrokerError", "EmbeddedBroker"]

logger = logging.getLogger(__name__)

Backend = Literal["auto", "mosquitto", "amqtt"]
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0


class BrokerError(Exception):
    """The embedded broker could not start or failed."""


class OpenAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]  # amqtt ships no type hints
    """Accept every client, as a real session.

    amqtt's own AnonymousAuthPlugin marks clients "anonymous", and amqtt then keeps no
    session for them: no QoS 1 messages queued while a ``clean_session=False`` client is
    away, which the LightBox link relies on. Like Mosquitto's ``allow_anonymous true``,
    this is for a broker listening on a trusted network (loopback by default).
    """

    async def authenticate(self, *, session: Any) -> bool:
        return True


class EmbeddedBroker:
    """Start/stop an MQTT broker on ``host:port``; ``port=0`` picks a free port."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 1883,
        *,
        data_dir: Path | None = None,
        backend: Backend = "auto",
    ) -> None:
        if backend == "auto":
            backend = "mosquitto" if shutil.which("mosquitto") else "amqtt"
        self.host = host
        self.port = port
        self.data_dir = data_dir
        self.backend: Literal["mosquitto", "amqtt"] = backend
        self._proc: asyncio.subprocess.Process | None = None
        self._log_task: asyncio.Task[None] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._amqtt: Any = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"mqtt://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None or self._amqtt is not None

    async def start(self) -> None:
        if self.running:
            raise BrokerError("the embedded broker is already running")
        if self.backend == "mosquitto":
            await self._start_mosquitto()
        else:
            await self._start_amqtt()
        logger.info("embedded MQTT broker (%s) listening on %s", self.backend, self.url)

    async def stop(self) -> None:
        if self._proc is not None:
            await self._stop_mosquitto()
        if self._amqtt is not None:
            broker, self._amqtt = self._amqtt, None
            await broker.shutdown()
        logger.info("embedded MQTT broker (%s) stopped", self.backend)

    async def __aenter__(self) -> EmbeddedBroker:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- mosquitto ----------------------------------------------------------------------

    def _mosquitto_config(self, workdir: Path) -> str:
        lines = [
            # Run as root, mosquitto would switch to the `mosquitto` user and could then
            # not write our data dir: stay the user we are.
            f"user {pwd.getpwuid(os.getuid()).pw_name}",
            f"listener {self.port} {self.host}",
            "allow_anonymous true",
            "set_tcp_nodelay true",  # commands and results are small: send them at once
            "max_inflight_messages 100",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_timestamp false",
        ]
        if self.data_dir is not None:
            lines += ["persistence true", f"persistence_location {self.data_dir}/"]
        else:
            lines += ["persistence false"]
        return "\n".join(lines) + "\n"

    async def _start_mosquitto(self) -> None:
        binary = shutil.which("mosquitto")
        if binary is None:
            raise BrokerError(
                "the mosquitto binary is not on PATH: install Mosquitto "
                "(apt install mosquitto) or use backend='amqtt'"
            )
        if self.port == 0:
            self.port = _free_port(self.host)
        elif not _port_is_free(self.host, self.port):
            raise BrokerError(
                f"mosquitto did not start: {self.host}:{self.port} is already in use "
                "(another broker?); choose another port, or 0 for any free one"
            )
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        self._tmp = tempfile.TemporaryDirectory(prefix="lightbox-mosquitto-")
        config = Path(self._tmp.name) / "mosquitto.conf"
        config.write_text(self._mosquitto_config(Path(self._tmp.name)))
        self._proc = await asyncio.create_subprocess_exec(
            binary,
            "-c",
            str(config),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            preexec_fn=die_with_parent,  # no orphaned broker after a kill -9
        )
        lines: list[str] = []
        self._log_task = asyncio.create_task(self._pump_log(self._proc, lines))
        try:
            await self._wait_listening(self._proc)
        except BrokerError:
            await self._stop_mosquitto()
            raise BrokerError(
                f"mosquitto did not start on {self.host}:{self.port}: {' | '.join(lines[-5:])}"
            ) from None

    async def _wait_listening(self, proc: asyncio.subprocess.Process) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT_S
        while loop.time() < deadline:
            if proc.returncode is not None:
                raise BrokerError("exited")
            try:
                _, writer = await asyncio.open_connection(self.host, self.port)
            except OSError:
                await asyncio.sleep(0.02)
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            await asyncio.sleep(0.05)
            if proc.returncode is not None:  # someone else answered on that port
                raise BrokerError("exited")
            return
        raise BrokerError("timeout")

    @staticmethod
    async def _pump_log(proc: asyncio.subprocess.Process, lines: list[str]) -> None:
        assert proc.stderr is not None
        broker_log = logging.getLogger(f"{__name__}.mosquitto")
        async for raw in proc.stderr:
            line = raw.decode(errors="replace").rstrip()
            lines.append(line)
            del lines[:-20]
            if "should not be run as root" in line:
                level = logging.DEBUG
            elif "rror" in line or "arning" in line:
                level = logging.WARNING
            else:
                level = logging.INFO
            broker_log.log(level, "%s", line)

    async def _stop_mosquitto(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            proc.terminate()  # a clean shutdown: mosquitto saves its database
            try:
                await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if self._log_task is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._log_task, 2.0)
            self._log_task = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    # -- amqtt --------------------------------------------------------------------------

    async def _start_amqtt(self) -> None:
        from amqtt.broker import Broker

        if self.data_dir is not None:
            logger.warning(
                "the amqtt broker keeps sessions in memory only: %s is not used", self.data_dir
            )
        amqtt_log = logging.getLogger("amqtt")
        if amqtt_log.level == logging.NOTSET:  # its INFO lines are per connection
            amqtt_log.setLevel(logging.WARNING)
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {f"{__name__}.OpenAuthPlugin": {}},
        }
        broker = Broker(config)
        try:
            await broker.start()
        except Exception as err:
            raise BrokerError(f"amqtt could not start on {self.host}:{self.port}: {err}") from err
        self._amqtt = broker
        if self.port == 0:
            server = broker._servers["default"].instance  # amqtt has no public accessor
            self.port = int(server.sockets[0].getsockname()[1])


def _port_is_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as mosquitto does
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port
