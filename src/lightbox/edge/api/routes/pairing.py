"""Pairing: a one-time code exchanged for an API token.

``POST /api/v1/pair`` is public: it is how a new phone gets its first token, with the code
from the Improv provisioning result URL (``http://<ip>:<port>/#pair=<code>``) or one shown
on the matrix. ``POST /api/v1/pairing-code`` needs a token: it issues a new code and shows
it on the matrix so that a person standing in front of the LightBox can pair another device.

Showing the code works like identify: the render loop shows a scrolling text scene for a
while, and the LightBox's *state* is not touched: the code is never stored, published on
MQTT or sent to WebSocket clients. The matrix goes back to the current state's scene when
the code is redeemed, when a new code replaces it, or after ``show_s`` seconds; any command
that changes the scene meanwhile ends the display too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Response, status
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection

from lightbox.edge.api.deps import ServiceDep
from lightbox.edge.api.routes.tokens import NewToken
from lightbox.edge.events import Event
from lightbox.edge.pairing import Pairing, PairingError
from lightbox.edge.service import LightBoxService
from lightbox.protocol import TextScene

log = logging.getLogger(__name__)

public = APIRouter(tags=["pairing"])
router = APIRouter(tags=["pairing"])

_STATUS = {"pairing_invalid": 401, "pairing_expired": 401, "rate_limited": 429}


class PairingRefused(HTTPException):
    """A refused code, as a problem detail (401 pairing_invalid/expired, 429 rate_limited)."""

    def __init__(self, err: PairingError) -> None:
        headers = None
        if err.retry_after is not None:
            headers = {"Retry-After": str(max(1, math.ceil(err.retry_after)))}
        super().__init__(_STATUS[err.code], err.message, headers)
        self.code = err.code


class PairRequest(BaseModel):
    code: str = Field(
        min_length=1,
        max_length=32,
        description="The pairing code (case and dashes do not matter).",
        examples=["7KQ2-M9XD"],
    )
    name: str = Field(
        min_length=1,
        max_length=64,
        description="Who or what will use the token.",
        examples=["phone"],
    )


class PairingCode(BaseModel):
    code: str = Field(description="The one-time code, XXXX-XXXX.")
    expires_at: datetime
    shown: bool = Field(description="Whether the matrix shows it.")


class CodeDisplay:
    """Shows a pairing code on the matrix for a while, then the state's scene again."""

    def __init__(self, service: LightBoxService) -> None:
        self._service = service
        self._task: asyncio.Task[None] | None = None

    async def show(self, code: str, seconds: float) -> bool:
        await self.clear()
        try:
            loop = self._service.render_loop
        except RuntimeError:
            return False
        scene = TextScene(text=f"PAIR {code}", mode="scroll", speed=16.0)
        future = loop.update(scene=scene, power=True)
        try:
            await asyncio.wait_for(asyncio.wrap_future(future), 5.0)
        except Exception as err:  # the matrix could not show it: the code is still valid
            log.warning("could not show the pairing code on the matrix: %s", err)
            return False
        self._task = asyncio.create_task(self._restore_after(seconds), name="pairing-display")
        return True

    async def clear(self) -> None:
        """Stop showing the code (if shown): back to the current state's scene."""
        task, self._task = self._task, None
        if task is None or task.done():
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await self._restore()

    async def _restore_after(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self._task = None
        await self._restore()

    async def _restore(self) -> None:
        state = self._service.state
        try:
            loop = self._service.render_loop
            future = loop.update(scene=state.scene, power=state.power)
            await asyncio.wait_for(asyncio.wrap_future(future), 5.0)
        except Exception as err:
            log.warning("could not put the matrix back after the pairing code: %s", err)


def get_pairing(conn: HTTPConnection) -> Pairing:
    """The app's Pairing (``app.state.pairing`` if set, else one on the service's store)."""
    pairing: Pairing | None = getattr(conn.app.state, "pairing", None)
    if pairing is None:
        service: LightBoxService = conn.app.state.service
        pairing = Pairing(service.store)
        conn.app.state.pairing = pairing
    return pairing


def get_display(conn: HTTPConnection) -> CodeDisplay:
    display: CodeDisplay | None = getattr(conn.app.state, "pairing_display", None)
    if display is None:
        display = CodeDisplay(conn.app.state.service)
        conn.app.state.pairing_display = display
    return display


@public.post(
    "/pair",
    status_code=status.HTTP_201_CREATED,
    summary="Exchange a one-time pairing code for an API token (no token needed)",
    responses={
        401: {
            "description": "The code is wrong, used or expired (pairing_invalid, pairing_expired)"
        },
        429: {"description": "Too many wrong codes: wait Retry-After seconds"},
    },
)
async def pair(
    body: Annotated[PairRequest, Body()],
    conn: HTTPConnection,
    service: ServiceDep,
    response: Response,
) -> NewToken:
    pairing = get_pairing(conn)
    try:
        info, token = await asyncio.to_thread(pairing.redeem, body.code, body.name)
    except PairingError as err:
        raise PairingRefused(err) from err
    service.events.publish(Event("tokens", id=info.id))
    await get_display(conn).clear()
    response.headers["Cache-Control"] = "no-store"
    return NewToken(id=info.id, name=info.name, created_at=info.created_at, token=token)


@router.post(
    "/pairing-code",
    status_code=status.HTTP_201_CREATED,
    summary="Issue a one-time pairing code (and show it on the matrix)",
)
async def issue_pairing_code(
    conn: HTTPConnection,
    response: Response,
    show: Annotated[bool, Body(embed=True, description="Show the code on the matrix.")] = True,
    ttl_s: Annotated[
        float, Body(embed=True, ge=60, le=3600, description="Seconds the code stays valid.")
    ] = 600,
    show_s: Annotated[
        float, Body(embed=True, ge=5, le=600, description="Seconds the matrix shows it.")
    ] = 120,
) -> PairingCode:
    pairing = get_pairing(conn)
    code = await asyncio.to_thread(pairing.issue, ttl_s)
    expires = await asyncio.to_thread(pairing.pending_until)
    assert expires is not None
    display = get_display(conn)
    shown = await display.show(code, min(show_s, ttl_s)) if show else False
    if not show:
        await display.clear()
    response.headers["Cache-Control"] = "no-store"
    return PairingCode(code=code, expires_at=expires, shown=shown)
