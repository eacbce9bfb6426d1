"""Dependencies of the route handlers, as ``Annotated`` aliases.

``ServiceDep`` is the :class:`LightBoxService`; ``TokenDep`` checks ``Authorization: Bearer``
against the store's API tokens (routers that need a token declare ``Depends(require_token)``
once, for all their routes); ``FramesDep`` gives the latest rendered frames.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from lightbox.edge.api.frames import FrameTap
from lightbox.edge.service import LightBoxService
from lightbox.edge.store import TokenInfo
from lightbox.protocol import LightBoxError

MAX_TOKEN_CHARS = 256

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An API token: `Authorization: Bearer lbx_...`. Create one with "
    "`lightbox edge token create --name <who>` on the LightBox, or POST /api/v1/tokens "
    "with another token.",
)


async def get_service(conn: HTTPConnection) -> LightBoxService:
    service: LightBoxService = conn.app.state.service
    return service


async def get_frames(conn: HTTPConnection) -> FrameTap:
    frames: FrameTap = conn.app.state.frames
    return frames


ServiceDep = Annotated[LightBoxService, Depends(get_service)]
FramesDep = Annotated[FrameTap, Depends(get_frames)]


class Unauthorized(LightBoxError):
    code = "unauthorized"


async def check_token(service: LightBoxService, token: str | None) -> TokenInfo:
    """The token's info, or :class:`Unauthorized` saying what to send."""
    if not token:
        raise Unauthorized(
            "this needs an API token: send 'Authorization: Bearer <token>'", field="authorization"
        )
    info = None
    if len(token) <= MAX_TOKEN_CHARS:
        # a SQLite read (and, once a minute, a write of last_used_at): off the event loop,
        # so that a busy database never stalls every other request
        info = await asyncio.to_thread(service.store.verify_token, token)
    if info is None:
        raise Unauthorized(
            "the API token is not valid (revoked or mistyped); create a new one",
            field="authorization",
        )
    return info


async def require_token(
    service: ServiceDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> TokenInfo:
    return await check_token(service, credentials.credentials if credentials else None)


TokenDep = Annotated[TokenInfo, Depends(require_token)]
