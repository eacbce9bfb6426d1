"""The fleet dashboard: its static files at ``/`` and the two routes it needs beyond the API.

:func:`install` adds, to a cloud app:

- the dashboard (``lightbox/cloud/web/``) at ``/``;
- the LightBox web app's own modules and styles at ``/app/js/...``, ``/app/css/...`` and
  ``/app/icons/...``, so the dashboard *reuses* its scene editors and control view (one
  copy of that code, served by the LightBox and by the cloud alike);
- ``GET /api/v1/catalog`` (signed in): the effects, palettes and fonts (what
  the scene editors offer);
- ``GET /api/v1/devices/{device_id}/state``: the state the device last published on the
  cloud broker (its retained ``lightbox/<id>/state`` message), for the owner only. Read
  through a short-lived connection as the cloud service client and kept for a second, so
  that a dashboard polling every few seconds costs one connection per device per poll.
  Only with a broker (``mqtt_url``); without one the route does not exist and clients say
  "unsupported". A stopgap until the LightBox's sync agent (``GET .../synced``) carries
  the state; then this route can read the synced view and keep its shape.

Every file is read once at install and served with an ``ETag`` and ``no-cache`` (like the
LightBox serves its app), explicit routes only: nothing can shadow an API route.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiomqtt
from fastapi import APIRouter, FastAPI, Request, Response
from starlette.routing import Route

from lightbox.cloud.api.deps import DevicesDep, UserDep
from lightbox.cloud.errors import DeviceOffline
from lightbox.edge.mqtt.settings import parse_mqtt_url
from lightbox.protocol import EFFECTS, FONT_NAMES, PALETTES, Catalog, NotFound, State
from lightbox.protocol.topics import DeviceTopics

__all__ = ["DASHBOARD_DIR", "SHARED_APP_PARTS", "StateReader", "install"]

DASHBOARD_DIR = Path(__file__).resolve().parents[1] / "web"
WEB_APP_DIR = Path(__file__).resolve().parents[2] / "web" / "app"
"""The LightBox web app (``lightbox.edge.api.static.WEB_APP_DIR``; not imported from there:
the cloud app must not load the edge service)."""
CONTENT_TYPES: dict[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
SHARED_APP_PARTS = ("js", "css", "icons")
"""Folders of the LightBox web app served by the cloud too, under ``/app/``."""

STATE_WAIT_S = 1.5
STATE_CACHE_S = 1.0
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; manifest-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)

router = APIRouter(tags=["dashboard"])
state_router = APIRouter(tags=["dashboard"])


class StateReader:
    """Reads a device's retained state from the cloud broker (cached ``cache_s``)."""

    def __init__(self, mqtt_url: str, *, cache_s: float = STATE_CACHE_S) -> None:
        self._url = parse_mqtt_url(mqtt_url)
        self._cache: dict[str, tuple[float, bytes | None]] = {}
        self._pending: dict[str, asyncio.Future[bytes | None]] = {}
        self._cache_s = cache_s

    async def read(self, device_id: str) -> bytes | None:
        """The state payload, or None when the device has published none."""
        hit = self._cache.get(device_id)
        now = time.monotonic()
        if hit is not None and now - hit[0] < self._cache_s:
            return hit[1]
        pending = self._pending.get(device_id)
        if pending is not None:  # one broker round trip for concurrent readers
            return await asyncio.shield(pending)
        future: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
        self._pending[device_id] = future
        try:
            payload = await self._fetch(device_id)
        except BaseException as err:
            future.set_exception(err)
            future.exception()  # seen: the caller gets it raised below
            raise
        else:
            future.set_result(payload)
            self._cache[device_id] = (time.monotonic(), payload)
            if len(self._cache) > 10_000:
                self._cache.clear()
            return payload
        finally:
            self._pending.pop(device_id, None)

    async def _fetch(self, device_id: str) -> bytes | None:
        url = self._url
        client = aiomqtt.Client(
            url.host,
            url.port,
            username=url.username,
            password=url.password,
            identifier=f"lightbox-cloud-state-{uuid.uuid4().hex[:12]}",
            tls_context=ssl.create_default_context() if url.tls else None,
            timeout=STATE_WAIT_S * 2,
        )
        topic = DeviceTopics(device_id).state
        try:
            async with asyncio.timeout(STATE_WAIT_S * 3), client:
                await client.subscribe(topic, qos=0)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(STATE_WAIT_S):
                        async for message in client.messages:
                            payload = message.payload
                            return payload if isinstance(payload, bytes) else None
                return None
        except (aiomqtt.MqttError, OSError, TimeoutError) as err:
            raise DeviceOffline(
                device_id, "the cloud broker cannot be reached right now; try again shortly"
            ) from err


def _reader(request: Request) -> StateReader:
    reader: StateReader | None = getattr(request.app.state, "dashboard_state_reader", None)
    if reader is None:
        reader = StateReader(request.app.state.config.mqtt_url)
        request.app.state.dashboard_state_reader = reader
    return reader


@router.get(
    "/catalog",
    summary="Effects, palettes and fonts (what the scene editors offer)",
    responses={401: {"description": "Not signed in"}},
)
async def get_catalog(principal: UserDep) -> Catalog:
    return Catalog(effects=EFFECTS, palettes=PALETTES, fonts=FONT_NAMES)


@state_router.get(
    "/devices/{device_id}/state",
    summary="The state the device last published to the cloud",
    responses={
        401: {"description": "Not signed in"},
        404: {"description": "No such device among yours, or no state published yet"},
        503: {"description": "The cloud broker cannot be reached"},
    },
)
async def get_device_state(
    device_id: str, devices: DevicesDep, principal: UserDep, request: Request
) -> State:
    await devices.get(principal.user_id, device_id)  # 404 unless it is the caller's
    payload = await _reader(request).read(device_id)
    if payload is None:
        raise NotFound(
            f"device {device_id!r} has not published its state to the cloud yet", field="state"
        )
    return State.model_validate_json(payload)


def _endpoint(body: bytes, headers: dict[str, str]) -> Callable[[Request], Awaitable[Response]]:
    etag = headers["ETag"]

    async def serve(request: Request) -> Response:
        if etag in (t.strip() for t in request.headers.get("if-none-match", "").split(",")):
            return Response(status_code=304, headers={"ETag": etag, "Cache-Control": "no-cache"})
        return Response(body, headers=headers)

    return serve


def _mount(app: FastAPI, directory: Path, url_prefix: str) -> None:
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        rel = path.relative_to(directory)
        if any(part.startswith(".") for part in rel.parts) or path.suffix == ".py":
            continue
        body = path.read_bytes()
        headers = {
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Content-Type": CONTENT_TYPES.get(path.suffix, "application/octet-stream"),
            "ETag": '"' + hashlib.sha256(body).hexdigest()[:32] + '"',
        }
        if path.suffix == ".html":
            headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        urls = [f"{url_prefix}/{rel.as_posix()}"]
        if rel.as_posix() == "index.html" and not url_prefix:
            urls.insert(0, "/")
        for url in urls:
            app.router.routes.append(
                Route(
                    url, _endpoint(body, headers), methods=["GET", "HEAD"], include_in_schema=False
                )
            )


def install(app: FastAPI, api_prefix: str = "/api/v1") -> None:
    """Add the dashboard's routes and files to the cloud ``app`` (see the module doc)."""
    app.include_router(router, prefix=api_prefix)
    if app.state.config.mqtt_url is not None:  # no broker (API alone): no device state
        app.include_router(state_router, prefix=api_prefix)
    if not (DASHBOARD_DIR / "index.html").is_file():
        raise FileNotFoundError(f"dashboard not found: {DASHBOARD_DIR / 'index.html'}")
    _mount(app, DASHBOARD_DIR, "")
    for part in SHARED_APP_PARTS:
        _mount(app, WEB_APP_DIR / part, f"/app/{part}")
