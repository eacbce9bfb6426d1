"""The WebSocket: live state, library changes, commands and the live preview.

``GET /api/v1/ws``. Authenticate with ``Authorization: Bearer <token>`` on the upgrade
request, or (browsers, which cannot set headers) with a first message
``{"type": "auth", "token": "..."}`` within 5 s; otherwise the socket closes with 4401.

Server -> client (JSON text)::

    {"type": "hello", "info": DeviceInfo, "state": State}        once, after auth
    {"type": "state", "state": State}                             every state change
    {"type": "changed", "topic": "presets", "id": "evening"}      library/settings/tokens
    {"type": "result", "result": CommandResult}                   answers a "command"
    {"type": "error", "error": {"code": ..., "message": ..., "field": ...}}
    {"type": "pong"}

Client -> server (JSON text)::

    {"type": "command", "command": {"type": "set", "brightness": 40}}
    {"type": "preview", "enabled": true, "fps": 15}               binary frames, see below
    {"type": "preview", "enabled": false}
    {"type": "ping"}

A preview frame is a binary message: ``b"LB"``, width and height as big-endian uint16,
then ``height * width * 3`` RGB bytes, row-major from the top-left. Each client gets the
latest frame at most ``fps`` times a second; a slow client skips frames (nothing queues
up). Bad messages are answered with ``error`` (or a failed ``result``); the socket stays
open. One client going away never disturbs another or the service.

Revoking the token a socket authenticated with closes it (``error`` ``unauthorized``, then
4401): at once when it is revoked through the API, within ``TOKEN_RECHECK_S`` when it is
revoked elsewhere (``lightbox edge token revoke`` on the device).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any, Literal

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, Field, ValidationError
from starlette.websockets import WebSocketDisconnected

from lightbox.edge.api.deps import FramesDep, ServiceDep, Unauthorized, check_token
from lightbox.edge.api.frames import FrameTap, encode_preview
from lightbox.edge.events import Event
from lightbox.edge.service import LightBoxService
from lightbox.edge.store import TokenInfo
from lightbox.protocol import MAX_COMMAND_BYTES, ErrorInfo, from_validation_error

log = logging.getLogger(__name__)

AUTH_TIMEOUT_S = 5.0
TOKEN_RECHECK_S = 30.0
"""How often an open socket checks that its token was not revoked outside the API."""
CLOSE_UNAUTHORIZED = 4401
MAX_MESSAGE_CHARS = MAX_COMMAND_BYTES + 1024
ORIGIN = "ws"

router = APIRouter()

_Gone = (WebSocketDisconnect, WebSocketDisconnected, OSError)
"""What sending to or receiving from a socket that went away raises."""


class PreviewRequest(BaseModel):
    type: Literal["preview"]
    enabled: bool
    fps: int = Field(default=15, ge=1, le=60)


@router.websocket("/ws", name="websocket")
async def websocket_endpoint(ws: WebSocket, service: ServiceDep, frames: FramesDep) -> None:
    await ws.accept()
    try:
        token = await _authenticate(ws, service)
        if token is None:
            return
        await _Session(ws, service, frames, token).run()
    except _Gone:
        return


async def _authenticate(ws: WebSocket, service: LightBoxService) -> tuple[str, TokenInfo] | None:
    """The token the client authenticated with and its info; None after closing with 4401."""
    header = ws.headers.get("authorization")
    try:
        if header is not None:
            scheme, _, token = header.partition(" ")
            token = token.strip() if scheme.lower() == "bearer" else ""
        else:
            token = await _auth_message(ws)
        info = await check_token(service, token)
    except Unauthorized as err:
        await _close_unauthorized(ws, err)
        return None
    return token, info


async def _close_unauthorized(ws: WebSocket, err: Unauthorized) -> None:
    await _send_json(ws, {"type": "error", "error": _error(err.info())})
    await ws.close(CLOSE_UNAUTHORIZED, "unauthorized")


async def _auth_message(ws: WebSocket) -> str:
    hint = 'send {"type": "auth", "token": "<API token>"} first'
    try:
        async with asyncio.timeout(AUTH_TIMEOUT_S):
            message = await ws.receive()
    except TimeoutError:
        raise Unauthorized(f"no auth message within {AUTH_TIMEOUT_S:g} s; {hint}") from None
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    text = message.get("text")
    try:
        data = json.loads(text) if text is not None and len(text) < 1024 else None
    except ValueError:
        data = None
    if not (isinstance(data, dict) and data.get("type") == "auth"):
        raise Unauthorized(f"this needs an API token: {hint}")
    token = data.get("token")
    return token if isinstance(token, str) else ""


def _error(info: ErrorInfo) -> dict[str, Any]:
    return info.model_dump(mode="json", exclude_none=True)


async def _send_json(ws: WebSocket, message: dict[str, Any]) -> None:
    await ws.send_text(json.dumps(message, separators=(",", ":")))


def _event_message(event: Event) -> dict[str, Any]:
    if event.topic == "state" and event.state is not None:
        return {"type": "state", "state": event.state.model_dump(mode="json", by_alias=True)}
    return {"type": "changed", "topic": event.topic, "id": event.id}


class _Session:
    """One authenticated client: a reader, an event pump, a token guard and maybe a preview.

    Everything sent goes through one lock, so messages never interleave; each producer
    waits for its turn, and none of them buffers more than one message. The guard checks
    the client's token when the pump sees it change, and every ``TOKEN_RECHECK_S``; once
    it is revoked, the guard closes the socket with 4401 and the session ends.
    """

    def __init__(
        self,
        ws: WebSocket,
        service: LightBoxService,
        frames: FrameTap,
        token: tuple[str, TokenInfo],
    ) -> None:
        self._ws = ws
        self._service = service
        self._frames = frames
        self._token, self._token_info = token
        self._send_lock = asyncio.Lock()
        self._token_changed = asyncio.Event()
        self._preview: asyncio.Task[None] | None = None

    async def send(self, message: dict[str, Any]) -> None:
        async with self._send_lock:
            await _send_json(self._ws, message)

    async def send_error(self, info: ErrorInfo) -> None:
        await self.send({"type": "error", "error": _error(info)})

    async def run(self) -> None:
        async with self._send_lock:
            pump = asyncio.create_task(self._pump_events(), name="ws-events")
            await asyncio.sleep(0)  # the pump subscribes first, so no change is missed
            service = self._service
            await _send_json(
                self._ws,
                {
                    "type": "hello",
                    "info": service.info().model_dump(mode="json", by_alias=True),
                    "state": service.state.model_dump(mode="json", by_alias=True),
                },
            )
        reader = asyncio.create_task(self._read(), name="ws-reader")
        guard = asyncio.create_task(self._guard_token(), name="ws-token")
        try:
            # the reader ends when the client goes, the guard when the token was revoked
            await asyncio.wait([reader, guard], return_when=asyncio.FIRST_COMPLETED)
            if reader.done():
                reader.result()  # the client's disconnect, or a socket error
        finally:
            await _cancel(reader)
            await _cancel(guard)
            await _cancel(pump)
            await _cancel(self._preview)

    async def _pump_events(self) -> None:
        with contextlib.suppress(*_Gone):
            async for event in self._service.events.subscribe():
                if event.topic == "tokens" and event.id == self._token_info.id:
                    self._token_changed.set()
                await self.send(_event_message(event))

    async def _guard_token(self) -> None:
        """Returns after closing the socket once its token is no longer valid."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(TOKEN_RECHECK_S):
                    await self._token_changed.wait()
            self._token_changed.clear()
            try:
                await check_token(self._service, self._token)
            except Unauthorized as err:
                async with self._send_lock:
                    with contextlib.suppress(*_Gone):
                        await _close_unauthorized(self._ws, err)
                return
            except Exception:  # the store busy or failing: keep the socket, check again
                log.warning("could not check a WebSocket client's token", exc_info=True)

    async def _read(self) -> None:
        while True:
            message = await self._ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                await self.send_error(
                    ErrorInfo(
                        code="invalid_json", message="send JSON text messages, not binary ones"
                    )
                )
                continue
            if len(text) > MAX_MESSAGE_CHARS:
                await self.send_error(
                    ErrorInfo(
                        code="payload_too_large",
                        message=f"a message may be at most {MAX_MESSAGE_CHARS} characters",
                    )
                )
                continue
            try:
                data = json.loads(text)
            except (ValueError, RecursionError) as err:
                await self.send_error(
                    ErrorInfo(code="invalid_json", message=f"not valid JSON: {err}")
                )
                continue
            await self._handle(data)

    async def _handle(self, data: Any) -> None:
        kind = data.get("type") if isinstance(data, dict) else None
        if kind == "command":
            payload = json.dumps(data.get("command")).encode()
            result = await self._service.handle_payload(payload, origin=ORIGIN)
            await self.send({"type": "result", "result": result.model_dump(mode="json")})
        elif kind == "preview":
            await self._set_preview(data)
        elif kind == "ping":
            await self.send({"type": "pong"})
        elif kind == "auth":
            pass  # already authenticated (a browser client may send it anyway)
        else:
            await self.send_error(
                ErrorInfo(
                    code="unknown_command" if isinstance(kind, str) else "invalid_command",
                    message="a message is a JSON object whose 'type' is one of: "
                    "command, preview, ping",
                    field="type",
                )
            )

    async def _set_preview(self, data: dict[str, Any]) -> None:
        try:
            request = PreviewRequest.model_validate(data)
        except ValidationError as err:
            await self.send_error(from_validation_error(err).info())
            return
        await _cancel(self._preview)
        self._preview = None
        if request.enabled:
            self._preview = asyncio.create_task(self._stream(request.fps), name="ws-preview")

    async def _stream(self, fps: int) -> None:
        loop = asyncio.get_running_loop()
        interval = 1.0 / fps
        with contextlib.suppress(*_Gone):
            async with self._frames.watch() as watcher:
                while True:
                    try:
                        frame = await watcher.next(within_s=5.0)
                    except TimeoutError:
                        continue  # no frame (the render loop is being replaced): wait on
                    started = loop.time()
                    data = encode_preview(frame)
                    async with self._send_lock:
                        await self._ws.send_bytes(data)
                    delay = interval - (loop.time() - started)
                    if delay > 0:
                        await asyncio.sleep(delay)


async def _cancel(task: asyncio.Task[None] | None) -> None:
    if task is None:
        return
    task.cancel()
    await asyncio.wait([task])  # never raises the task's error; our own cancel propagates
