"""Error codes and the error shape shared by every transport.

Exceptions (``lightbox.protocol.errors``)::

    LightBoxError                 code, message, field; maps to ErrorInfo
     ├── InvalidCommand           invalid_json / invalid_command / unknown_command
     ├── NotFound                 not_found / media_not_found
     ├── Conflict                 conflict (e.g. deleting a preset a playlist uses)
     └── Unavailable              busy / offline / timeout

Every code is stable: clients may switch on it. The message says what to do.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationError

from lightbox.protocol.base import WireModel

ErrorCode = Literal[
    "invalid_json",
    "invalid_command",
    "unknown_command",
    "not_found",
    "media_not_found",
    "media_too_large",
    "media_too_many_pixels",
    "media_too_many_frames",
    "media_unsupported_format",
    "media_corrupt",
    "conflict",
    "unauthorized",
    "forbidden",
    "pairing_invalid",
    "pairing_expired",
    "rate_limited",
    "payload_too_large",
    "busy",
    "offline",
    "timeout",
    "internal",
]


class ErrorInfo(WireModel):
    code: ErrorCode
    message: str
    field: str | None = Field(default=None, description="Dotted path of the field at fault.")


class LightBoxError(Exception):
    """Base of every error a user can cause; carries a stable code."""

    code: ErrorCode = "internal"

    def __init__(self, message: str, *, code: ErrorCode | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.field = field

    def info(self) -> ErrorInfo:
        return ErrorInfo(code=self.code, message=self.message, field=self.field)


class InvalidCommand(LightBoxError):
    code: ErrorCode = "invalid_command"


class NotFound(LightBoxError):
    code: ErrorCode = "not_found"


class Conflict(LightBoxError):
    code: ErrorCode = "conflict"


class Unavailable(LightBoxError):
    code: ErrorCode = "busy"


def field_path(loc: tuple[int | str, ...], data: Any = None) -> str:
    """A dotted field path from pydantic's ``loc``, without union tags.

    Pydantic puts the tag of a discriminated union (``'set'``, ``'effect'``) and validator
    names (``'function-after[...]'``) into ``loc``; walking the input alongside tells
    which segments are real keys.
    """
    parts: list[str] = []
    node = data
    tag_seen: object = None
    for i, segment in enumerate(loc):
        is_tag = isinstance(node, dict) and node.get("type") == segment and tag_seen is not node
        if is_tag and i + 1 < len(loc):
            tag_seen = node  # the union tag (also when a field has the same name, as 'layers')
            continue
        in_dict = isinstance(node, dict) and segment in node
        in_list = (
            isinstance(node, list | tuple) and isinstance(segment, int) and segment < len(node)
        )
        if in_dict or in_list:
            parts.append(str(segment))
            node = node[segment]
        elif is_tag:
            continue
        elif isinstance(segment, str) and ("[" in segment or "-" in segment):
            continue  # validator or union-member names
        else:
            parts.append(str(segment))
            node = None
    return ".".join(parts)


def from_validation_error(
    err: ValidationError, *, prefix: str = "", data: Any = None
) -> InvalidCommand:
    """Turn pydantic's error into one with the field at fault and what is allowed.

    Pass the validated ``data`` so that union tags can be told from field names.
    """
    first = err.errors(include_url=False)[0]
    field = field_path(tuple(first.get("loc", ())), data)
    if prefix:
        field = f"{prefix}.{field}" if field else prefix
    message = str(first.get("msg", "invalid value"))
    message = message.removeprefix("Value error, ")
    if first.get("type") == "union_tag_invalid" or first.get("type") == "union_tag_not_found":
        code: ErrorCode = "unknown_command" if field in ("", "type") else "invalid_command"
    else:
        code = "invalid_command"
    text = f"{field}: {message}" if field else message
    extra = len(err.errors()) - 1
    if extra > 0:
        text += f" (and {extra} more problem{'s' if extra > 1 else ''})"
    return InvalidCommand(text, code=code, field=field or None)
