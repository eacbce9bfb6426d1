"""A hard limit on request bodies, enforced while they stream in.

A body announced larger than its limit (``Content-Length``) is refused before a byte of it
is read; a body without a length (chunked) is counted as it arrives and refused as soon as
it passes the limit. Either way the answer is a 413 problem, and the handler never sees
more than the limit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lightbox.edge.api.problems import problem_response
from lightbox.protocol import ErrorCode


@dataclass(frozen=True, slots=True)
class Limit:
    bytes: int
    code: ErrorCode
    what: str


class BodyTooLarge(HTTPException):
    def __init__(self, limit: Limit) -> None:
        super().__init__(413, _detail(limit))
        self.code: ErrorCode = limit.code


def _detail(limit: Limit) -> str:
    return f"{limit.what} may be at most {limit.bytes} bytes; send a smaller one"


class BodyLimit:
    """ASGI middleware: ``limit_for(method, path)`` gives each request's limit."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str, str], Limit]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["method"], scope["path"])
        length = _content_length(scope)
        if length is not None and length > limit.bytes:
            response = problem_response(
                status=413,
                code=limit.code,
                detail=f"{_detail(limit)} (Content-Length is {length})",
                instance=scope["path"],
            )
            await response(scope, receive, send)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit.bytes:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited_receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
