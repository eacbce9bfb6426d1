"""Errors of the client SDK: the same tree whichever path (LAN or cloud) a call took.

::

    LightBoxClientError            code, detail, field, status (None: no HTTP answer)
     ├── ConnectionFailed          no connection: refused, unreachable, DNS, TLS
     ├── Timeout                   no answer in time (transport), or code ``timeout``
     ├── Unauthorized              unauthorized / forbidden / pairing_*: token or login
     ├── NotFound                  not_found / media_not_found: no such device or item
     ├── DeviceOffline             offline: the cloud cannot reach the device
     ├── CommandRefused            the device (or its API) refused a command; ``.result``
     ├── RateLimited               rate_limited; ``.retry_after`` seconds
     └── Unsupported               this path cannot do that (e.g. full state via the cloud)

Problem details of both APIs (RFC 9457, ``code`` from :data:`lightbox.protocol.ErrorCode`)
become these by :func:`error_from_problem`; transport errors of ``httpx`` are translated at
the boundary and chained with ``from``.
"""

from __future__ import annotations

from typing import Any

from lightbox.protocol import CommandResult, ErrorInfo

__all__ = [
    "CommandRefused",
    "ConnectionFailed",
    "DeviceOffline",
    "LightBoxClientError",
    "NotFound",
    "RateLimited",
    "Timeout",
    "Unauthorized",
    "Unsupported",
    "error_from_problem",
]

# Codes that, answering a command, mean "the command was refused" (it reached a judge).
REFUSAL_CODES = frozenset(
    {
        "invalid_json",
        "invalid_command",
        "unknown_command",
        "conflict",
        "media_not_found",
        "media_too_large",
        "media_too_many_pixels",
        "media_too_many_frames",
        "media_unsupported_format",
        "media_corrupt",
        "payload_too_large",
    }
)


class LightBoxClientError(Exception):
    """Base of every error the SDK raises."""

    def __init__(
        self,
        detail: str,
        *,
        code: str = "internal",
        field: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code
        self.field = field
        self.status = status

    @property
    def answered(self) -> bool:
        """Whether a server answered (an HTTP status); False: the path itself failed."""
        return self.status is not None


class ConnectionFailed(LightBoxClientError):
    """No connection could be made (refused, unreachable, name unknown, TLS)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, code="offline")


class Timeout(LightBoxClientError):
    """No answer in time: from the transport (``status`` None) or a ``timeout`` problem."""

    def __init__(self, detail: str, *, status: int | None = None) -> None:
        super().__init__(detail, code="timeout", status=status)


class Unauthorized(LightBoxClientError):
    """Not signed in, or a token that is wrong, expired or revoked."""


class NotFound(LightBoxClientError):
    """No such device (among yours) or item."""


class DeviceOffline(LightBoxClientError):
    """The cloud cannot reach the device right now."""


class RateLimited(LightBoxClientError):
    """Too many requests; try again after :attr:`retry_after` seconds."""

    def __init__(self, detail: str, *, retry_after: float | None, status: int = 429) -> None:
        super().__init__(detail, code="rate_limited", status=status)
        self.retry_after = retry_after


class CommandRefused(LightBoxClientError):
    """The command was refused; :attr:`result` is the device's answer (``ok`` false)."""

    def __init__(self, result: CommandResult, *, status: int | None = None) -> None:
        error = result.error
        super().__init__(
            error.message if error else "the command was refused",
            code=error.code if error else "internal",
            field=error.field if error else None,
            status=status,
        )
        self.result = result


class Unsupported(LightBoxClientError):
    """This path cannot do that (yet); the message says what to use instead."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, code="not_found")


def error_from_problem(
    status: int,
    problem: dict[str, Any],
    *,
    command: bool = False,
    retry_after: str | None = None,
) -> LightBoxClientError:
    """The error for an HTTP error answer ``problem`` (parsed body, maybe not a problem).

    ``command``: the request sent a command; then a refusal (an invalid command, one the
    device refused, which carries the command's ``id``) is :class:`CommandRefused`.
    """
    code = str(problem.get("code") or _code_for_status(status))
    detail = str(problem.get("detail") or problem.get("title") or f"HTTP {status}")
    field = problem.get("field")
    field = str(field) if field is not None else None
    command_id = problem.get("id")
    if command and (code in REFUSAL_CODES or (command_id is not None and code != "timeout")):
        info = ErrorInfo.model_validate({"code": _known(code), "message": detail, "field": field})
        result = CommandResult(id=command_id, ok=False, error=info)
        return CommandRefused(result, status=status)
    if code in ("unauthorized", "forbidden", "pairing_invalid", "pairing_expired"):
        return Unauthorized(detail, code=code, field=field, status=status)
    if code in ("not_found", "media_not_found"):
        return NotFound(detail, code=code, field=field, status=status)
    if code == "offline":
        return DeviceOffline(detail, code=code, field=field, status=status)
    if code == "timeout":
        return Timeout(detail, status=status)
    if code == "rate_limited":
        return RateLimited(detail, retry_after=_seconds(retry_after), status=status)
    return LightBoxClientError(detail, code=code, field=field, status=status)


def _code_for_status(status: int) -> str:
    return {
        400: "invalid_json",
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        409: "conflict",
        413: "payload_too_large",
        422: "invalid_command",
        429: "rate_limited",
        503: "busy",
        504: "timeout",
    }.get(status, "internal")


def _known(code: str) -> str:
    from typing import get_args

    from lightbox.protocol import ErrorCode

    return code if code in get_args(ErrorCode) else "internal"


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
