"""The Improv state machine: authorization, commands, errors and results.

Transport-free: the GATT server (``gatt.py``) hands it the bytes written to the RPC
command characteristic and listens for state, error and result changes; tests do the
same with a recording listener. Hardware and the rest of LightBox come in through
injected collaborators (Wi-Fi backend, pairing codes, identify, showing a code on the
matrix, device name and host name).

States (the values of the Improv current-state characteristic)::

    AUTHORIZATION_REQUIRED --button / code on the matrix--> AUTHORIZED
    AUTHORIZED --Wi-Fi settings--> PROVISIONING --joined--> PROVISIONED
                                               \\--failed (UNABLE_TO_CONNECT)--> AUTHORIZED
    AUTHORIZED --no command for `authorization_timeout`--> the idle state

The idle state is PROVISIONED when the LightBox is already on Wi-Fi (found at start, or
after provisioning succeeds) so that phones and Home Assistant do not offer to set it up
again, and AUTHORIZATION_REQUIRED otherwise. An authorization is used up by a successful
provisioning; authorizing again (button or code) re-opens a provisioned LightBox, e.g. to
move it to another network.

Authorization by a code: a client writes an empty value to the LightBox authorization
characteristic (see ``gatt.py``), the matrix shows a 6-digit code, and the client writes
the digits the person reads off the matrix. A code lasts `code_ttl` seconds and allows
`max_code_attempts` wrong guesses; a wrong code answers NOT_AUTHORIZED on the Improv error
characteristic.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from lightbox.edge.ble.improv import (
    Capability,
    Command,
    CommandId,
    DeviceInfoRequest,
    DeviceName,
    ErrorCode,
    Hostname,
    Identify,
    ImprovError,
    PacketAssembler,
    ScanWifi,
    State,
    WifiSettings,
    build_result,
    fit_strings,
    parse_command,
    valid_hostname,
)
from lightbox.edge.wifi.base import WifiBackend, WifiConnectError, WifiError

log = logging.getLogger(__name__)

CAPABILITIES = (
    Capability.IDENTIFY | Capability.DEVICE_INFO | Capability.SCAN_WIFI | Capability.HOSTNAME
)
CODE_DIGITS = 6
#: Data bytes of a scan result: BlueZ cuts a notification to the link's MTU - 3, and iOS
#: settles on an MTU of about 185, so the networks (strongest first) stop short of that.
SCAN_BUDGET = 176


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What the Device Info command answers (the device name is asked for each time)."""

    version: str
    hardware: str
    firmware: str = "LightBox"


class ProvisionerListener(Protocol):
    """Told about every change, in order; the GATT server turns these into notifications."""

    def state_changed(self, state: State) -> None: ...

    def error_changed(self, error: ErrorCode) -> None: ...

    def result_ready(self, packet: bytes) -> None: ...


def _trim(text: str, limit: int = 60) -> str:
    """At most ``limit`` UTF-8 bytes, cut on a character boundary (results are short)."""
    return text.encode()[:limit].decode(errors="ignore")


def _hostname() -> str:
    return socket.gethostname()


async def _nothing() -> None:
    return None


async def _ignore(_: str) -> None:
    return None


class Provisioner:
    def __init__(
        self,
        *,
        wifi: WifiBackend,
        pairing_code: Callable[[], str],
        device: DeviceInfo,
        device_name: Callable[[], str],
        set_device_name: Callable[[str], Awaitable[None]] = _ignore,
        identify: Callable[[], Awaitable[None]] = _nothing,
        show_code: Callable[[str | None], Awaitable[None]] | None = None,
        hostname: Callable[[], str] = _hostname,
        http_port: int = 80,
        require_authorization: bool = True,
        authorization_timeout: float = 300.0,
        code_ttl: float = 120.0,
        max_code_attempts: int = 5,
        connect_timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._wifi = wifi
        self._pairing_code = pairing_code
        self._device = device
        self._device_name = device_name
        self._set_device_name = set_device_name
        self._identify = identify
        self._show_code = show_code
        self._hostname = hostname
        self.http_port = http_port
        self.require_authorization = require_authorization
        self.authorization_timeout = authorization_timeout
        self.code_ttl = code_ttl
        self.max_code_attempts = max_code_attempts
        self.connect_timeout = connect_timeout
        self._clock = clock

        self._assembler = PacketAssembler()
        self._listeners: list[ProvisionerListener] = []
        self._state = State.AUTHORIZATION_REQUIRED if require_authorization else State.AUTHORIZED
        self._error = ErrorCode.NONE
        self._result = b""
        self._authorized = not require_authorization
        self._provisioned = False
        self._auth_timer: asyncio.TimerHandle | None = None
        self._code: str | None = None
        self._code_attempts = 0
        self._code_timer: asyncio.TimerHandle | None = None
        self._queue: asyncio.Queue[Command] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- what the GATT server reads --------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    @property
    def error(self) -> ErrorCode:
        return self._error

    @property
    def last_result(self) -> bytes:
        """The last RPC result packet (the value of the RPC result characteristic)."""
        return self._result

    @property
    def capabilities(self) -> Capability:
        return CAPABILITIES

    @property
    def authorized(self) -> bool:
        return self._authorized

    @property
    def code_showing(self) -> bool:
        return self._code is not None

    def add_listener(self, listener: ProvisionerListener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: ProvisionerListener) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Find the idle state (already on Wi-Fi?) and start taking commands."""
        try:
            status = await self._wifi.status()
        except WifiError as err:
            log.warning("Wi-Fi status unknown (%s); assuming not provisioned", err)
        else:
            self._provisioned = status.connected
        if not self._authorized:
            self._set_state(self._idle_state())
        elif self._provisioned:
            self._set_state(State.PROVISIONED)
        if self._worker is None:
            self._worker = asyncio.create_task(self._run(), name="improv-commands")

    async def stop(self) -> None:
        if self._auth_timer is not None:
            self._auth_timer.cancel()
            self._auth_timer = None
        if self._code is not None:
            await self._hide_code()
        tasks = [t for t in (self._worker, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._worker = None
        self._tasks.clear()

    async def drain(self) -> None:
        """Wait until every command received so far has been answered."""
        await self._queue.join()

    # -- input from the GATT server ---------------------------------------------------------

    def write(self, chunk: bytes) -> None:
        """Bytes written to the RPC command characteristic (one write, maybe partial).

        Never raises for anything a client sends: refusals go to the error characteristic.
        A whole, valid command is queued and answered in order by the command task.
        """
        try:
            packet = self._assembler.feed(bytes(chunk), self._clock())
            if packet is None:
                return
            command = parse_command(packet)
        except ImprovError as err:
            log.info("Improv: refused a packet: %s", err)
            self._set_error(err.code)
            return
        self._queue.put_nowait(command)

    def authorize(self, source: str) -> None:
        """A person proved presence (button press, code confirmed): open for a while."""
        if self._state is State.PROVISIONING:
            return
        log.info("Improv: authorized by %s for %.0f s", source, self.authorization_timeout)
        self._authorized = True
        self._restart_auth_timer()
        if self._code is not None:
            self._spawn(self._hide_code())
        self._set_state(State.AUTHORIZED)

    async def request_code(self) -> None:
        """Show a code on the matrix (the same one again while it is valid)."""
        if self._authorized:
            return
        if self._code is None:
            self._code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
            self._code_attempts = 0
            loop = asyncio.get_running_loop()
            self._code_timer = loop.call_later(
                self.code_ttl, lambda: self._spawn(self._hide_code())
            )
            log.info("Improv: authorization code shown on the matrix")
        await self._call_show_code(self._code)

    async def confirm_code(self, code: str) -> bool:
        """The code the person typed; True (and authorized) if it is the one shown."""
        if self._authorized:
            return True
        shown = self._code
        if shown is None or not secrets.compare_digest(code.encode(), shown.encode()):
            self._code_attempts += 1
            if shown is not None and self._code_attempts >= self.max_code_attempts:
                log.warning("Improv: too many wrong codes; the code is withdrawn")
                await self._hide_code()
            self._set_error(ErrorCode.NOT_AUTHORIZED)
            return False
        self.authorize("code")
        return True

    # -- commands ------------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            command = await self._queue.get()
            try:
                await self._execute(command)
            except ImprovError as err:
                log.info("Improv: %r refused: %s", command, err)
                self._set_error(err.code)
            except Exception:
                log.exception("Improv: %r failed", command)
                self._set_error(ErrorCode.UNKNOWN)
            finally:
                self._queue.task_done()

    async def _execute(self, command: Command) -> None:
        self._set_error(ErrorCode.NONE)
        match command:
            case WifiSettings():
                await self._provision(command)
            case Identify():
                await self._identify()
            case DeviceInfoRequest():
                d = self._device
                self._send(
                    CommandId.DEVICE_INFO,
                    [
                        _trim(d.firmware),
                        _trim(d.version),
                        _trim(d.hardware),
                        _trim(self._device_name()),
                    ],
                )
            case ScanWifi():
                await self._scan()
            case Hostname(hostname=None):
                self._require_authorized()
                self._send(CommandId.HOSTNAME, [self._hostname()])
            case Hostname(hostname=str() as hostname):
                self._require_authorized()
                if not valid_hostname(hostname):
                    raise ImprovError(ErrorCode.BAD_HOSTNAME, f"{hostname!r} is not a host name")
                try:
                    await self._wifi.set_hostname(hostname)
                except WifiError as err:
                    raise ImprovError(ErrorCode.BAD_HOSTNAME, str(err)) from err
                self._restart_auth_timer()
                self._send(CommandId.HOSTNAME, [hostname])
            case DeviceName(name=None):
                self._send(CommandId.DEVICE_NAME, [self._device_name()])
            case DeviceName(name=str() as name):
                self._require_authorized()
                await self._set_device_name(name)
                self._restart_auth_timer()
                self._send(CommandId.DEVICE_NAME, [self._device_name()])

    async def _provision(self, command: WifiSettings) -> None:
        self._require_authorized()
        if self._auth_timer is not None:
            self._auth_timer.cancel()
            self._auth_timer = None
        self._set_state(State.PROVISIONING)
        log.info("Improv: joining Wi-Fi %r", command.ssid)
        try:
            status = await self._wifi.connect(
                command.ssid, command.password, timeout=self.connect_timeout
            )
        except WifiConnectError as err:
            log.warning("Improv: could not join %r: %s", command.ssid, err)
            self._back_to_authorized()
            raise ImprovError(ErrorCode.UNABLE_TO_CONNECT, str(err)) from err
        except WifiError as err:
            log.warning("Improv: Wi-Fi backend failed: %s", err)
            self._back_to_authorized()
            raise ImprovError(ErrorCode.UNKNOWN, str(err)) from err
        except BaseException:
            self._back_to_authorized()
            raise
        self._provisioned = True
        if self.require_authorization:
            self._authorized = False
        url = self._url(status.ipv4)
        log.info("Improv: joined %r, %s", command.ssid, status.ipv4)
        self._set_state(State.PROVISIONED)
        self._send(CommandId.WIFI_SETTINGS, [url] if url else [])

    def _url(self, ipv4: str | None) -> str | None:
        if not ipv4:
            return None
        port = "" if self.http_port == 80 else f":{self.http_port}"
        base = f"http://{ipv4}{port}/"
        try:
            code = self._pairing_code()
        except Exception:
            log.exception("Improv: no pairing code; answering the bare URL")
            return base
        return f"{base}#pair={code}"

    async def _scan(self) -> None:
        try:
            networks = await self._wifi.scan()
        except WifiError as err:
            raise ImprovError(ErrorCode.UNKNOWN, f"scan failed: {err}") from err
        groups = [
            (ap.ssid, str(ap.rssi), "WPA2" if ap.secured else "NO") for ap in networks if ap.ssid
        ]
        self._send(CommandId.SCAN_WIFI, fit_strings(groups, SCAN_BUDGET))

    def _require_authorized(self) -> None:
        if not self._authorized:
            raise ImprovError(ErrorCode.NOT_AUTHORIZED, "press the button or confirm the code")

    def _back_to_authorized(self) -> None:
        if self._authorized:
            self._restart_auth_timer()
            self._set_state(State.AUTHORIZED)
        else:
            self._set_state(self._idle_state())

    # -- authorization timers ------------------------------------------------------------------

    def _idle_state(self) -> State:
        if not self.require_authorization:
            return State.PROVISIONED if self._provisioned else State.AUTHORIZED
        return State.PROVISIONED if self._provisioned else State.AUTHORIZATION_REQUIRED

    def _restart_auth_timer(self) -> None:
        if not self.require_authorization:
            return
        if self._auth_timer is not None:
            self._auth_timer.cancel()
        loop = asyncio.get_running_loop()
        self._auth_timer = loop.call_later(self.authorization_timeout, self._revoke)

    def _revoke(self) -> None:
        self._auth_timer = None
        if self._state is State.PROVISIONING:
            return
        log.info("Improv: authorization timed out")
        self._authorized = False
        self._set_state(self._idle_state())

    async def _hide_code(self) -> None:
        if self._code_timer is not None:
            self._code_timer.cancel()
            self._code_timer = None
        if self._code is None:
            return
        self._code = None
        await self._call_show_code(None)

    async def _call_show_code(self, code: str | None) -> None:
        if self._show_code is None:
            return
        try:
            await self._show_code(code)
        except Exception:
            log.exception("Improv: could not show the code on the matrix")

    # -- output ----------------------------------------------------------------------------------

    def _set_state(self, state: State) -> None:
        changed = state is not self._state
        self._state = state
        if changed:
            for listener in list(self._listeners):
                listener.state_changed(state)

    def _set_error(self, error: ErrorCode) -> None:
        # A refusal is notified even when unchanged: a client waits for the notification.
        if error is ErrorCode.NONE and self._error is ErrorCode.NONE:
            return
        self._error = error
        for listener in list(self._listeners):
            listener.error_changed(error)

    def _send(self, command: int, strings: list[bytes | str] | list[str]) -> None:
        self._result = build_result(command, strings)
        for listener in list(self._listeners):
            listener.result_ready(self._result)

    def _spawn(self, coro: Awaitable[None]) -> None:
        async def run() -> None:
            await coro

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
