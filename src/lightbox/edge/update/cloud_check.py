"""The update agent wired to the cloud: offers, reports, notifications, real health.

:class:`CloudUpdates` gives the :class:`~lightbox.edge.update.agent.UpdateAgent` what it
is injected with, for a LightBox registered with a cloud (:mod:`lightbox.edge.cloud_link`
keeps the registration secret in the store's ``meta`` table):

- :meth:`CloudUpdates.check`: ``GET {cloud}/api/v1/devices/{id}/update`` with the
  registration secret as bearer token, the running version, hardware id and channel;
  200 is an :class:`UpdateOffer` (a presigned URL), 204 nothing.
- :meth:`CloudUpdates.report`: appends to the durable outbox and wakes the reporter, which
  delivers in order over the cloud MQTT link (``lightbox/<id>/update/status``, QoS 1) when
  it is attached, else by ``POST .../update/status``; what cannot be sent stays queued.
- As a :class:`~lightbox.edge.mqtt.link.LinkExtension` of the cloud link it subscribes to
  ``lightbox/<id>/update/available`` and wakes the agent at once.

:class:`ServiceHealthCheck` judges a freshly started version on the real service: the
local API answers with the expected version, the broker is connected
(``service.mqtt_connected()``) and frames are rendering (``service.stats().shown``
increasing), several times in a row.

:func:`prepare_updates` (before the cloud link is built) and :func:`start_update_agent`
(once the HTTP API is up) are what :class:`~lightbox.edge.runtime.EdgeRuntime` calls;
updates run only when the LightBox was started by the launcher from a slot
(``LIGHTBOX_SLOT`` and ``LIGHTBOX_ROOT`` set, ``<root>/trust`` present).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import platform
import shlex
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from lightbox import __version__
from lightbox.edge.mqtt.link import Backoff, Publish
from lightbox.edge.update.agent import UpdateAgent, UpdateOffer
from lightbox.edge.update.health import HealthResult
from lightbox.edge.update.outbox import Outbox, UpdateStatus
from lightbox.edge.update.slots import SlotLayout
from lightbox.protocol.topics import DeviceTopics

if TYPE_CHECKING:
    from lightbox.edge.runtime import EdgeRuntime
    from lightbox.edge.service import LightBoxService
    from lightbox.edge.store import Store

log = logging.getLogger(__name__)

API = "/api/v1"
META_URL = "cloud.url"  # the same keys as lightbox.edge.cloud_link (not imported: no cycle)
META_SECRET = "cloud.registration_secret"
AVAILABLE = "update/available"
STATUS = "update/status"
CHECK_INTERVAL_S = 6 * 3600.0
REPORT_RETRY_S = 30.0


class CheckFailed(Exception):
    """The cloud did not answer the update check; the agent reports it and retries later."""


def default_hardware() -> str:
    """``<os>-<machine>``, lower case: ``linux-x86_64``, ``linux-aarch64``."""
    return f"{sys.platform}-{platform.machine() or 'unknown'}".lower()


class CloudUpdates:
    """Check, report and notification for one LightBox and one cloud."""

    def __init__(
        self,
        cloud_url: str,
        store: Store,
        device_id: str,
        outbox: Outbox,
        *,
        hardware: str | None = None,
        channel: str = "stable",
        current_version: Callable[[], str | None] = lambda: __version__,
        http: httpx.AsyncClient | None = None,
        timeout_s: float = 15.0,
    ) -> None:
        self.cloud_url = cloud_url.rstrip("/")
        self.device_id = device_id
        self.outbox = outbox
        self.hardware = hardware or default_hardware()
        self.channel = channel
        self.wake = asyncio.Event()
        """Set by an ``update/available`` notification: the agent checks at once."""
        self._store = store
        self._version = current_version
        self._http = http
        self._timeout = timeout_s
        self._publish: Publish | None = None
        self._pending = asyncio.Event()
        self._topics = DeviceTopics(device_id)
        self._log = logging.LoggerAdapter(log, {"device_id": device_id})

    # -- the agent's check and report ------------------------------------------------------------

    def _secret(self) -> str | None:
        if self._store.get_meta(META_URL) != self.cloud_url:
            return None
        return self._store.get_meta(META_SECRET) or None

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        secret = await asyncio.to_thread(self._secret)
        if secret is None:
            raise CheckFailed(f"not registered with {self.cloud_url} yet")
        headers = {"Authorization": f"Bearer {secret}"}
        client = self._http or httpx.AsyncClient(timeout=self._timeout)
        try:
            return await client.request(
                method, f"{self.cloud_url}{API}{path}", headers=headers, **kwargs
            )
        except httpx.HTTPError as err:
            raise CheckFailed(
                f"cannot reach {self.cloud_url}: {err or type(err).__name__}"
            ) from err
        finally:
            if self._http is None:
                await client.aclose()

    async def check(self) -> UpdateOffer | None:
        params = {"hardware": self.hardware, "channel": self.channel}
        version = self._version()
        if version:
            params["version"] = version
        response = await self._request("GET", f"/devices/{self.device_id}/update", params=params)
        if response.status_code == 204:
            return None
        if response.status_code != 200:
            raise CheckFailed(f"the cloud answered {response.status_code} to the update check")
        return UpdateOffer.model_validate_json(response.content)

    def report(self, status: UpdateStatus) -> None:
        """The agent's ``report``: durable first, delivered by :meth:`run_reporter`."""
        self.outbox.report(status)
        self._pending.set()

    async def deliver(self) -> int:
        """Send what the outbox holds, in order; returns how many were sent."""
        return await self.outbox.flush(self._send)

    async def _send(self, item: dict[str, Any]) -> None:
        publish = self._publish
        if publish is not None:
            await publish(f"{self._topics.base}/{STATUS}", json.dumps(item).encode())
            return
        response = await self._request(
            "POST", f"/devices/{self.device_id}/update/status", json=item
        )
        if response.status_code >= 500 or response.status_code == 429:
            raise CheckFailed(f"the cloud answered {response.status_code}; report kept")
        if response.status_code >= 400:  # refused for good: dropping it keeps the queue moving
            self._log.warning(
                "device %s: update report refused (%s): %s",
                self.device_id,
                response.status_code,
                response.text[:200],
            )

    async def run_reporter(self, retry_s: float = REPORT_RETRY_S) -> None:
        """Deliver reports whenever there are some, and retry what could not be sent."""
        backoff = Backoff(1.0, retry_s)
        self._pending.set()  # reports left from before a restart or a rollback
        while True:
            await self._pending.wait()
            self._pending.clear()
            try:
                await self.deliver()
                backoff.reset()
            except Exception as err:  # offline: keep them, try again later
                delay = backoff.next()
                self._log.info(
                    "device %s: update reports queued (%s); retry in %.0f s",
                    self.device_id,
                    err,
                    delay,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._pending.wait(), delay)
                self._pending.set()

    # -- LinkExtension (the cloud link's MQTT connection) --------------------------------------

    def topics(self, topics: DeviceTopics) -> list[str]:
        self._topics = topics
        return [f"{topics.base}/{AVAILABLE}"]

    async def handle(self, topic: str, payload: bytes) -> None:
        self._log.info("device %s: the cloud offers an update; checking", self.device_id)
        self.wake.set()

    def attached(self, publish: Publish | None) -> None:
        self._publish = publish
        if publish is not None:
            self._pending.set()  # connected again: deliver what is queued


class ServiceHealthCheck:
    """Health of the running service: API answers the version, broker up, frames shown."""

    def __init__(
        self,
        service: LightBoxService,
        http_url: str,
        *,
        timeout: float = 120.0,
        interval: float = 1.0,
        passes: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.service = service
        self.http_url = http_url.rstrip("/")
        self.timeout = timeout
        self.interval = interval
        self.passes = passes
        self.transport = transport

    def _problem(
        self, response: httpx.Response | None, expected: str, shown: int, last: int
    ) -> str | None:
        if response is None:
            return "the local API does not answer"
        if response.status_code != 200:
            return f"/api/v1/info answered HTTP {response.status_code}"
        version = response.json().get("version")
        if version != expected:
            return f"version {version!r} answers, expected {expected!r}"
        if not self.service.mqtt_connected():
            return "the MQTT broker is not connected"
        if shown <= last:
            return "no frames are rendering"
        return None

    async def __call__(self, expected_version: str) -> HealthResult:
        deadline = time.monotonic() + self.timeout
        detail, streak, last = "no answer yet", 0, -1
        async with httpx.AsyncClient(
            base_url=self.http_url, timeout=5.0, transport=self.transport
        ) as client:
            while True:
                response: httpx.Response | None
                try:
                    response = await client.get("/api/v1/info")
                except httpx.HTTPError:
                    response = None
                shown = self.service.stats().shown
                try:
                    problem = self._problem(response, expected_version, shown, last)
                except ValueError:
                    problem = "/api/v1/info did not answer JSON"
                last = shown
                if problem is None:
                    streak += 1
                    if streak >= self.passes:
                        return HealthResult(True, f"{expected_version} healthy")
                else:
                    streak, detail = 0, problem
                if time.monotonic() >= deadline:
                    return HealthResult(False, detail)
                await asyncio.sleep(self.interval)


async def restart_service() -> None:
    """Restart the LightBox: ``$LIGHTBOX_RESTART_COMMAND`` if set (e.g. ``sudo systemctl
    restart lightbox``), else a SIGTERM to ourselves: the runtime stops in stages and
    systemd (``Restart=always``) starts the launcher again, which picks the new slot."""
    command = os.environ.get("LIGHTBOX_RESTART_COMMAND")
    if command:
        proc = await asyncio.create_subprocess_exec(*shlex.split(command))
        if await proc.wait() != 0:
            raise RuntimeError(f"{command!r} exited with {proc.returncode}")
    else:
        os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.sleep(3600)  # the restart ends this process
    raise RuntimeError("the LightBox was not restarted")


def install_root() -> Path | None:
    """The install root when this process runs from a slot (started by the launcher)."""
    root, slot = os.environ.get("LIGHTBOX_ROOT"), os.environ.get("LIGHTBOX_SLOT")
    if not root or slot not in ("a", "b"):
        return None
    path = Path(root)
    return path if (path / "trust").is_dir() else None


def prepare_updates(runtime: EdgeRuntime) -> CloudUpdates | None:
    """The cloud update wiring of a runtime with a cloud URL that runs from a slot, else
    None. Pass it to the :class:`CloudLink` as an extension, then call
    :func:`start_update_agent` once the HTTP API is up."""
    root = install_root()
    cloud_url = runtime.config.cloud_url
    if root is None or not cloud_url or runtime.store is None or runtime.service is None:
        return None
    layout = SlotLayout(root)
    return CloudUpdates(
        cloud_url,
        runtime.store,
        runtime.service.device_id,
        Outbox(root / "outbox.jsonl"),
        hardware=os.environ.get("LIGHTBOX_HARDWARE") or None,
        channel=os.environ.get("LIGHTBOX_UPDATE_CHANNEL", "stable"),
        current_version=lambda: layout.state().active_version or __version__,
    )


def start_update_agent(runtime: EdgeRuntime, updates: CloudUpdates) -> asyncio.Task[None]:
    """Start the agent (resume, then checks on a timer or a notification) and the reporter
    as one named task owned by the runtime."""
    from lightbox.release.keys import TrustStore

    root = install_root()
    if root is None or runtime.service is None or runtime.endpoints is None:
        raise RuntimeError("start the update agent on a running LightBox started from a slot")
    agent = UpdateAgent(
        SlotLayout(root),
        trust=TrustStore.load(root / "trust"),
        hardware=updates.hardware,
        check=updates.check,
        restart=restart_service,
        health=ServiceHealthCheck(runtime.service, runtime.endpoints.http_url),
        report=updates.report,
    )

    async def run() -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(updates.run_reporter(), name="update-reports")
            group.create_task(agent.run(CHECK_INTERVAL_S, updates.wake), name="update-agent")

    return asyncio.create_task(run(), name="updates")


__all__ = [
    "CheckFailed",
    "CloudUpdates",
    "ServiceHealthCheck",
    "default_hardware",
    "install_root",
    "prepare_updates",
    "restart_service",
    "start_update_agent",
]
