"""The LightBox's link to the cloud: registration, broker credentials, a second MQTT link.

:class:`CloudLink` runs as one task beside the LAN side and never stands in its way:

1. **Register** (first start): ``POST {cloud_url}/api/v1/devices/register`` with the device
   id, name, version and hardware. The answer's registration secret and MQTT credentials are
   stored in the store's ``meta`` table in one transaction, so they survive restarts.
   Later starts reuse them and do not call the cloud at all.
2. **Connect**: a second :class:`~lightbox.edge.mqtt.MqttLink` to the cloud broker with
   those credentials, with the LightBox service as its handler, so the device answers
   cloud commands exactly as it answers LAN ones (same parsing, same idempotency, same
   results) and publishes ``status`` (last will ``offline``), ``info`` and ``state``.
3. **Re-register** when the broker refuses the credentials (revoked by the owner, or the
   broker's database was reset): while the link cannot connect, a probe connection tells
   "refused" from "unreachable"; on "refused" the link registers again with its secret,
   receives a new password and reconnects.
4. **Claim codes**: :meth:`CloudLink.claim_code` returns the current code (from the
   registration, or ``POST /api/v1/devices/{id}/claim-code`` with the secret as bearer
   token), for the local API and the matrix.

When the cloud or its broker is unreachable everything is retried with exponential
backoff and full jitter; the status says why (:attr:`CloudLink.status`). Nothing here
blocks or fails the LightBox's local operation.

Errors (for :meth:`CloudLink.claim_code`)::

    CloudLinkError
     ├── CloudUnreachable   no answer, a network error, 5xx or 429: try again later
     └── CloudRefused       4xx: e.g. 403, this device id is registered with another secret
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import platform
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal, TypeVar

import aiomqtt
import httpx
from pydantic import ValidationError

from lightbox import __version__
from lightbox.cloud.schemas import ClaimCodeOut, MqttCredentials, RegisterRequest, Registration
from lightbox.edge.events import Event
from lightbox.edge.mqtt.link import Backoff, LinkExtension, MqttLink
from lightbox.edge.mqtt.settings import MqttSettings
from lightbox.edge.service import LightBoxService
from lightbox.edge.store import Store
from lightbox.protocol import CommandResult, State

__all__ = [
    "CloudLink",
    "CloudLinkError",
    "CloudLinkStatus",
    "CloudRefused",
    "CloudUnreachable",
]

logger = logging.getLogger(__name__)

ORIGIN = "cloud"
META_URL = "cloud.url"
META_SECRET = "cloud.registration_secret"
META_MQTT = "cloud.mqtt"
API = "/api/v1"
REFUSED_CODES = frozenset({4, 5, 134, 135})  # v3.1.1 CONNACK 4/5; paho's 0x86/0x87
CLAIM_CODE_MARGIN = timedelta(seconds=10)
STOP_GRACE_S = 5.0
_T = TypeVar("_T")

State_ = Literal["starting", "registering", "connecting", "online", "unreachable", "refused"]


class CloudLinkError(Exception):
    """Base: the cloud could not do what the LightBox asked."""


class CloudUnreachable(CloudLinkError):
    """No answer, a network error, a 5xx or a rate limit: try again later."""


class CloudRefused(CloudLinkError):
    """The cloud refused the request (4xx); retrying the same request will not help."""

    def __init__(self, message: str, *, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True, slots=True)
class CloudLinkStatus:
    """What the local API shows about the cloud link."""

    state: State_
    cloud_url: str
    registered: bool
    connected: bool
    error: str | None
    since: datetime


@dataclass(frozen=True, slots=True)
class _Stored:
    secret: str | None
    mqtt: MqttCredentials | None


class _CloudHandler:
    """The service, seen by the cloud's MqttLink: commands are tagged with origin "cloud"."""

    def __init__(self, service: LightBoxService) -> None:
        self._service = service

    async def handle_payload(self, payload: bytes, *, origin: str) -> CommandResult:
        return await self._service.handle_payload(payload, origin=ORIGIN)

    def current_state(self) -> State:
        return self._service.current_state()


def _default_hardware() -> str:
    return f"{platform.machine() or 'unknown'} {platform.system()}".strip()[:128]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class CloudLink:
    """Keeps a LightBox registered with and connected to the cloud; :meth:`run` it as a task.

    ``mqtt_url`` overrides the broker URL the cloud hands out (or supplies one when the
    cloud gives none); ``mqtt_ca_file`` verifies an ``mqtts://`` broker with a private CA.
    ``http`` is an outside client (tests); otherwise the link opens and closes its own.
    """

    def __init__(
        self,
        cloud_url: str,
        store: Store,
        service: LightBoxService,
        *,
        http: httpx.AsyncClient | None = None,
        hardware: str | None = None,
        mqtt_url: str | None = None,
        mqtt_ca_file: Path | None = None,
        request_timeout_s: float = 10.0,
        retry_min_s: float = 1.0,
        retry_max_s: float = 300.0,
        probe_after_s: float = 10.0,
        check_every_s: float = 1.0,
        mqtt_reconnect_max_s: float = 30.0,
        clock: Callable[[], datetime] = _utcnow,
        extensions: Sequence[LinkExtension] = (),
    ) -> None:
        if not cloud_url.startswith(("http://", "https://")):
            raise ValueError(f"cloud URL {cloud_url!r}: use https://cloud.example (or http://)")
        self.cloud_url = cloud_url.rstrip("/")
        self.device_id = service.device_id
        self._store = store
        self._service = service
        self._http = http
        self._owns_http = http is None
        self._hardware = (hardware or _default_hardware())[:128]
        self._mqtt_url = mqtt_url
        self._mqtt_ca_file = mqtt_ca_file
        self._timeout = request_timeout_s
        self._retry = (retry_min_s, retry_max_s)
        self._probe_after_s = probe_after_s
        self._check_every_s = check_every_s
        self._mqtt_reconnect_max_s = mqtt_reconnect_max_s
        self._clock = clock
        self._handler = _CloudHandler(service)
        self._extensions = list(extensions)
        """Served over the cloud broker connection too (the sync agent): one connection."""
        self._link: MqttLink | None = None
        self._new_link = asyncio.Event()
        self._claim: ClaimCodeOut | None = None
        self._stop = asyncio.Event()
        self._running = False
        self._finished = asyncio.Event()
        self._status = CloudLinkStatus("starting", self.cloud_url, False, False, None, clock())
        self._log = logging.LoggerAdapter(logger, {"device_id": self.device_id})
        self.registrations = 0
        """How many times this link registered (first time or again)."""

    # -- public API -------------------------------------------------------------------------

    @property
    def status(self) -> CloudLinkStatus:
        link = self._link
        return replace(self._status, connected=link is not None and link.connected)

    @property
    def connected(self) -> bool:
        return self._link is not None and self._link.connected

    @property
    def link(self) -> MqttLink | None:
        """The MQTT link to the cloud broker, while there is one."""
        return self._link

    async def wait_connected(self, timeout: float) -> None:  # noqa: ASYNC109
        """Wait until connected to the cloud broker; TimeoutError after ``timeout`` s."""
        async with asyncio.timeout(timeout):
            while True:
                link = self._link
                if link is None:
                    self._new_link.clear()
                    await self._new_link.wait()
                    continue
                with contextlib.suppress(TimeoutError):  # the link may be replaced meanwhile
                    await link.wait_connected(1.0)
                    return

    def publish_state(self, state: State) -> None:
        """Publish ``state`` to the cloud broker when connected (never blocks)."""
        link = self._link
        if link is not None:
            link.publish_state(state)

    async def claim_code(self, *, fresh: bool = False) -> ClaimCodeOut:
        """The current claim code; a new one when it expired (or ``fresh``).

        Raises :class:`CloudUnreachable` (not registered yet, or the cloud is down) or
        :class:`CloudRefused` (e.g. the cloud does not know this secret).
        """
        code = self._claim
        if (
            not fresh
            and code is not None
            and code.claim_expires_at - CLAIM_CODE_MARGIN > (self._clock())
        ):
            return code
        stored = await asyncio.to_thread(self._load)
        if stored.secret is None:
            raise CloudUnreachable(
                "this LightBox is not registered with the cloud yet; it keeps trying "
                f"({self.status.error or 'no error so far'})"
            )
        url = f"{self.cloud_url}{API}/devices/{self.device_id}/claim-code"
        body = await self._post(url, None, secret=stored.secret)
        try:
            code = ClaimCodeOut.model_validate_json(body)
        except ValidationError as err:
            raise CloudUnreachable(f"the cloud at {self.cloud_url} gave no claim code") from err
        self._claim = code
        return code

    async def run(self) -> None:
        """Register, connect, re-register when refused; forever, until :meth:`stop`."""
        if self._running:
            raise RuntimeError("the cloud link is already running")
        self._running = True
        self._stop.clear()
        self._finished.clear()
        unsubscribe = self._service.events.on_event(self._on_event)
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self._timeout)
        self._log.info("device %s: cloud link to %s starting", self.device_id, self.cloud_url)
        try:
            await self._supervise()
        finally:
            unsubscribe()
            if self._owns_http and self._http is not None:
                with contextlib.suppress(Exception):
                    await self._http.aclose()
                self._http = None
            self._running = False
            self._finished.set()
            self._log.info("device %s: cloud link stopped", self.device_id)

    async def stop(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        """Say ``offline`` to the cloud broker and stop (within ``timeout`` s)."""
        self._stop.set()
        if self._running:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._finished.wait(), timeout)

    # -- the supervisor --------------------------------------------------------------------

    async def _supervise(self) -> None:
        backoff = Backoff(*self._retry)
        while not self._stop.is_set():
            try:
                stored = await asyncio.to_thread(self._load)
                if stored.mqtt is None:
                    self._set("registering")
                    registered = await self._until_stopped(self._register(stored.secret))
                    if registered is None:
                        break
                    stored = registered
                backoff.reset()
                assert stored.mqtt is not None
                if await self._serve(stored.mqtt) == "refused":
                    self._log.warning(
                        "device %s: the cloud broker refuses our credentials; registering again",
                        self.device_id,
                    )
                    await asyncio.to_thread(self._forget_credentials)
                continue
            except CloudRefused as err:
                self._set("refused", str(err))
                delay = max(backoff.next(), min(60.0, self._retry[1]))
            except CloudUnreachable as err:
                self._set("unreachable", str(err))
                delay = backoff.next()
            except Exception as err:  # a bug must not end the link (or the LightBox)
                self._log.exception("device %s: cloud link failed", self.device_id)
                self._set("unreachable", repr(err))
                delay = backoff.next()
            self._log.warning(
                "device %s: cloud %s: %s; retrying in %.1f s",
                self.device_id,
                self._status.state,
                self._status.error,
                delay,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)

    async def _serve(self, creds: MqttCredentials) -> Literal["stopped", "refused"]:
        """Run an MqttLink with ``creds`` until stopped or the broker refuses them."""
        settings = self._settings(creds)
        link = MqttLink(
            settings,
            self.device_id,
            self._handler,
            info=self._service.info,
            extensions=self._extensions,
        )
        self._link = link
        self._new_link.set()
        self._set("connecting")
        task = asyncio.create_task(link.run(), name="cloud-mqtt")
        loop = asyncio.get_running_loop()
        down_since = loop.time()
        probe_backoff = Backoff(self._probe_after_s, max(self._probe_after_s, 300.0))
        next_probe = down_since + self._probe_after_s
        try:
            while not self._stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self._check_every_s)
                if task.done():
                    raise RuntimeError(f"the cloud MQTT link ended: {task!r}")
                now = loop.time()
                if link.connected:
                    self._set("online")
                    down_since = now
                    next_probe = now + self._probe_after_s
                    probe_backoff.reset()
                    continue
                if self._status.state == "online":
                    self._set("connecting", "the connection to the cloud broker was lost")
                elif self._status.state not in ("connecting", "unreachable"):
                    self._set("connecting")
                if now < next_probe:
                    continue
                verdict = await self._until_stopped(self._probe(settings))
                if verdict is None:
                    break
                if verdict == "refused" and not self.connected:
                    return "refused"
                if verdict != "ok":
                    self._set("unreachable", verdict)
                next_probe = loop.time() + probe_backoff.next()
            return "stopped"
        finally:
            self._link = None
            # MqttLink.stop() waits for a connection attempt in progress (up to its
            # timeout): give it a moment, then cancel (it still says offline if it can).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(link.stop(), STOP_GRACE_S)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, STOP_GRACE_S)

    async def _until_stopped(self, work: Coroutine[object, object, _T]) -> _T | None:
        """Run ``work``, or cancel it and return None as soon as :meth:`stop` is called."""
        task = asyncio.ensure_future(work)
        stop = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait((task, stop), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not task.done():
                task.cancel()
            await asyncio.gather(task, stop, return_exceptions=True)
        return None if task.cancelled() else task.result()

    async def _probe(self, settings: MqttSettings) -> str:
        """ "refused" when the broker refuses these credentials, else why it failed ("ok")."""
        client = aiomqtt.Client(
            settings.host,
            settings.port,
            username=settings.username,
            password=settings.password.get_secret_value() if settings.password else None,
            identifier=settings.client_id_for(self.device_id),
            clean_session=False,  # keeps the commands waiting in the device's session
            tls_context=settings.ssl_context(),
            timeout=self._timeout,
        )
        try:
            async with asyncio.timeout(self._timeout), client:
                return "ok"
        except aiomqtt.MqttCodeError as err:
            rc = err.rc
            code = getattr(rc, "value", rc)
            if isinstance(code, int) and code in REFUSED_CODES:
                return "refused"
            return f"the cloud broker {settings.url}: {err}"
        except (aiomqtt.MqttError, OSError, TimeoutError) as err:
            return f"the cloud broker {settings.url} is unreachable: {err or type(err).__name__}"
        finally:
            future = getattr(client, "_disconnected", None)
            if isinstance(future, asyncio.Future) and future.done() and not future.cancelled():
                future.exception()

    # -- registration -----------------------------------------------------------------------

    async def _register(self, secret: str | None) -> _Stored:
        request = RegisterRequest(
            device_id=self.device_id,
            name=self._service.settings.name,
            version=__version__,
            hardware=self._hardware,
            registration_secret=secret,
        )
        body = await self._post(
            f"{self.cloud_url}{API}/devices/register",
            request.model_dump(mode="json", exclude_none=True),
        )
        try:
            registration = Registration.model_validate_json(body)
        except ValidationError as err:
            raise CloudUnreachable(
                f"{self.cloud_url} did not answer like a LightBox cloud; check --cloud-url"
            ) from err
        if registration.device_id != self.device_id:
            raise CloudUnreachable(f"{self.cloud_url} registered another device id")
        secret = registration.registration_secret or secret
        if secret is None:
            raise CloudUnreachable(f"{self.cloud_url} gave no registration secret")
        stored = _Stored(secret, registration.mqtt)
        self._settings(registration.mqtt)  # a broker URL we cannot use fails here
        await asyncio.to_thread(self._save, stored)
        self.registrations += 1
        if registration.claim_code and registration.claim_expires_at:
            self._claim = ClaimCodeOut(
                claim_code=registration.claim_code,
                claim_expires_at=registration.claim_expires_at,
            )
        self._log.info(
            "device %s: registered with %s (broker user %s)",
            self.device_id,
            self.cloud_url,
            registration.mqtt.username,
        )
        return stored

    async def _post(
        self, url: str, payload: dict[str, object] | None, *, secret: str | None = None
    ) -> bytes:
        http = self._http
        if http is None:
            raise CloudUnreachable("the cloud link is not running")
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        try:
            response = await http.post(url, json=payload, headers=headers, timeout=self._timeout)
        except httpx.HTTPError as err:
            raise CloudUnreachable(
                f"cannot reach the cloud at {self.cloud_url}: {err or type(err).__name__}"
            ) from err
        if response.status_code >= 500 or response.status_code == 429:
            raise CloudUnreachable(
                f"the cloud at {self.cloud_url} answered {response.status_code}; trying later"
            )
        if response.status_code >= 400:
            raise CloudRefused(
                f"the cloud refused {url.removeprefix(self.cloud_url)} "
                f"({response.status_code}): {_detail(response)}",
                status_code=response.status_code,
            )
        return response.content

    def _settings(self, creds: MqttCredentials) -> MqttSettings:
        url = self._mqtt_url or creds.url
        if not url:
            raise CloudUnreachable(
                "the cloud gave no broker URL; pass the cloud broker's mqtts:// URL explicitly"
            )
        try:
            return MqttSettings(
                url=url,
                username=creds.username,
                password=creds.password,
                topic_prefix=creds.topic_prefix,
                ca_file=self._mqtt_ca_file if url.startswith("mqtts") else None,
                reconnect_max_s=self._mqtt_reconnect_max_s,
            )
        except (ValidationError, ValueError) as err:
            raise CloudUnreachable(f"unusable cloud broker settings ({url}): {err}") from err

    # -- the store -----------------------------------------------------------------------------

    def _load(self) -> _Stored:
        if self._store.get_meta(META_URL) != self.cloud_url:
            return _Stored(None, None)  # never registered with this cloud
        secret = self._store.get_meta(META_SECRET) or None
        raw = self._store.get_meta(META_MQTT)
        mqtt: MqttCredentials | None = None
        if raw:
            try:
                mqtt = MqttCredentials.model_validate(json.loads(raw))
            except (ValueError, ValidationError):
                self._log.warning("device %s: stored cloud credentials unreadable", self.device_id)
        return _Stored(secret, mqtt)

    def _save(self, stored: _Stored) -> None:
        with self._store.transaction() as tx:
            tx.set_meta(META_URL, self.cloud_url)
            tx.set_meta(META_SECRET, stored.secret or "")
            tx.set_meta(META_MQTT, stored.mqtt.model_dump_json() if stored.mqtt else "")

    def _forget_credentials(self) -> None:
        with self._store.transaction() as tx:
            tx.set_meta(META_MQTT, "")

    # -- helpers --------------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        if event.state is not None:
            self.publish_state(event.state)

    def _set(self, state: State_, error: str | None = None) -> None:
        current = self._status
        if current.state == state and current.error == error:
            return
        registered = state in ("connecting", "online") or (
            current.registered and state != "registering"
        )
        self._status = CloudLinkStatus(
            state, self.cloud_url, registered, self.connected, error, self._clock()
        )
        if state == "online":
            self._log.info("device %s: connected to the cloud", self.device_id)


def _detail(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(data, dict):
        for key in ("detail", "title", "message"):
            if isinstance(data.get(key), str):
                return str(data[key])[:300]
    return str(data)[:200]
