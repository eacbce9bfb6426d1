"""Errors as RFC 9457 problem details (``application/problem+json``).

Every error the local API returns has the same shape::

    {"type": "/problems/not_found", "title": "Not found", "status": 404,
     "detail": "preset 'x' does not exist", "instance": "/api/v1/presets/x",
     "code": "not_found", "field": "preset"}

``type`` is a stable URI reference per protocol :data:`~lightbox.protocol.ErrorCode`;
``code`` is that code itself (what clients switch on); ``field`` is the dotted path of the
field at fault; request validation errors list every problem in ``errors``; a failed
command carries its ``id``.

Exceptions raised by route handlers (ours and the framework's) all end here:

    LightBoxError            -> its code's status (CommandFailed: a result with ok=false)
    RequestValidationError   -> 422 invalid_command (400 invalid_json for broken JSON)
    HTTPException            -> its status (404 unknown route, 405, ...)
    anything else            -> 500 internal (logged)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from lightbox.protocol import (
    CommandResult,
    ErrorCode,
    InvalidCommand,
    LightBoxError,
    parse_command,
)
from lightbox.protocol.errors import field_path

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
COMMAND_ROUTE = "command"
"""Name of the routes whose body is a command: the protocol's parser explains their errors."""

STATUS: dict[ErrorCode, int] = {
    "invalid_json": 400,
    "invalid_command": 422,
    "unknown_command": 422,
    "not_found": 404,
    "media_not_found": 404,
    "conflict": 409,
    "unauthorized": 401,
    "forbidden": 403,
    "pairing_invalid": 401,
    "pairing_expired": 401,
    "payload_too_large": 413,
    "media_too_large": 413,
    "media_unsupported_format": 415,
    "media_too_many_pixels": 422,
    "media_too_many_frames": 422,
    "media_corrupt": 422,
    "rate_limited": 429,
    "busy": 503,
    "offline": 503,
    "timeout": 504,
    "internal": 500,
}

TITLES: dict[ErrorCode, str] = {
    "invalid_json": "Body is not valid JSON",
    "invalid_command": "Invalid request",
    "unknown_command": "Unknown command type",
    "not_found": "Not found",
    "media_not_found": "Media not found",
    "conflict": "Conflict",
    "unauthorized": "Authentication required",
    "forbidden": "Forbidden",
    "pairing_invalid": "Wrong pairing code",
    "pairing_expired": "Pairing code expired",
    "payload_too_large": "Request body too large",
    "media_too_large": "Media file too large",
    "media_unsupported_format": "Unsupported media format",
    "media_too_many_pixels": "Media has too many pixels",
    "media_too_many_frames": "Media has too many frames",
    "media_corrupt": "Media file is corrupt",
    "rate_limited": "Too many requests",
    "busy": "LightBox busy",
    "offline": "LightBox offline",
    "timeout": "Timed out",
    "internal": "Internal error",
}

# what an HTTP status from the framework (or Starlette's static files) means as a code
_CODE_FOR_STATUS: dict[int, ErrorCode] = {
    400: "invalid_json",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    413: "payload_too_large",
    415: "media_unsupported_format",
    429: "rate_limited",
    503: "busy",
    504: "timeout",
}


class FieldError(BaseModel):
    field: str = Field(description="Dotted path of the field at fault ('' for the whole body).")
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem detail, as every error of the local API is returned."""

    type: str = Field(description="Stable URI reference per code, e.g. /problems/not_found.")
    title: str
    status: int
    detail: str = Field(description="What went wrong and what to do about it.")
    instance: str = Field(description="The request path.")
    code: ErrorCode = Field(description="The protocol error code; switch on this.")
    field: str | None = Field(default=None, description="Dotted path of the field at fault.")
    id: str | None = Field(default=None, description="Id of the command that failed.")
    errors: list[FieldError] | None = Field(
        default=None, description="Every problem with the request (validation errors)."
    )


def problem_type(code: str) -> str:
    return f"/problems/{code}"


class CommandFailed(LightBoxError):
    """A command that :meth:`LightBoxService.execute` answered with ``ok=false``."""

    def __init__(self, result: CommandResult) -> None:
        error = result.error
        super().__init__(
            error.message if error else "the command failed",
            code=error.code if error else "internal",
            field=error.field if error else None,
        )
        self.command_id = result.id


def check(result: CommandResult) -> CommandResult:
    """``result`` if it is ok; else raise :class:`CommandFailed` (a problem response)."""
    if not result.ok:
        raise CommandFailed(result)
    return result


def problem_response(
    *,
    status: int,
    code: ErrorCode,
    detail: str,
    instance: str,
    field: str | None = None,
    command_id: str | None = None,
    errors: Sequence[FieldError] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": problem_type(code),
        "title": TITLES.get(code) or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": instance,
        "code": code,
    }
    if field is not None:
        body["field"] = field
    if command_id is not None:
        body["id"] = command_id
    if errors is not None:
        body["errors"] = [e.model_dump() for e in errors]
    all_headers = dict(headers or {})
    if code == "unauthorized":
        all_headers.setdefault("WWW-Authenticate", 'Bearer realm="lightbox"')
    return JSONResponse(
        body, status_code=status, headers=all_headers, media_type=PROBLEM_MEDIA_TYPE
    )


def _lightbox_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LightBoxError)
    return problem_response(
        status=STATUS.get(exc.code, 500),
        code=exc.code,
        detail=exc.message,
        instance=request.url.path,
        field=exc.field,
        command_id=exc.command_id if isinstance(exc, CommandFailed) else None,
    )


def _field_of(loc: Sequence[int | str], body: Any) -> str:
    """Dotted path of the field at fault, named as the protocol names it (no union tags)."""
    parts = tuple(loc)
    if parts and parts[0] == "body":
        return field_path(parts[1:], body)
    if parts and parts[0] in ("query", "path", "header", "cookie"):
        parts = parts[1:]
    return field_path(parts, None)


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    raw = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in raw):
        return problem_response(
            status=400,
            code="invalid_json",
            detail="the body is not valid JSON; send a JSON document "
            "with Content-Type: application/json",
            instance=request.url.path,
        )
    route = request.scope.get("route")
    if getattr(route, "name", None) == COMMAND_ROUTE and exc.body is not None:
        # a command: the protocol names its error (unknown_command, the field at fault)
        try:
            parse_command(exc.body)
        except InvalidCommand as err:
            return _lightbox_error(request, err)
    errors = [
        FieldError(
            field=_field_of(e.get("loc", ()), exc.body),
            message=str(e.get("msg", "invalid value")).removeprefix("Value error, "),
        )
        for e in raw
    ]
    if not errors:
        errors = [FieldError(field="", message="invalid request")]
    first = errors[0]
    if first.field == "" and raw and raw[0].get("type") == "missing":
        detail = "a JSON body is required"
    else:
        detail = f"{first.field}: {first.message}" if first.field else first.message
    if len(errors) > 1:
        detail += f" (and {len(errors) - 1} more; see 'errors')"
    return problem_response(
        status=422,
        code="invalid_command",
        detail=detail,
        instance=request.url.path,
        field=first.field or None,
        errors=errors,
    )


def _http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    headers = dict(exc.headers or {})
    code: ErrorCode = getattr(exc, "code", None) or _CODE_FOR_STATUS.get(
        status, "internal" if status >= 500 else "invalid_command"
    )
    if status == 404:
        detail = f"there is nothing at {request.url.path}; see /docs for the API"
    elif status == 405:
        allowed = _allowed_methods(request) or (exc.headers or {}).get("Allow", "")
        detail = f"{request.method} is not allowed on {request.url.path}"
        if allowed:
            detail += f"; use {allowed}"
            headers = {**headers, "Allow": allowed}
    else:
        detail = str(exc.detail) if exc.detail else HTTPStatus(status).phrase
    return problem_response(
        status=status, code=code, detail=detail, instance=request.url.path, headers=headers
    )


def _allowed_methods(request: Request) -> str:
    """Every method some route takes at this path (Starlette's Allow names only one route's)."""
    path = request.url.path
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        regex = getattr(route, "path_regex", None)
        if route.methods and regex is not None and regex.match(path):
            methods |= route.methods
    return ", ".join(sorted(methods))


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("%s %s failed", request.method, request.url.path, exc_info=exc)
    return problem_response(
        status=500,
        code="internal",
        detail="internal error; the LightBox log has the details",
        instance=request.url.path,
    )


def install(app: FastAPI) -> None:
    """Make every error of ``app`` a problem detail."""
    app.add_exception_handler(LightBoxError, _lightbox_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(Exception, _unexpected)


def openapi_with_problems(app: FastAPI) -> dict[str, Any]:
    """The schema, with every error documented as a problem detail."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(problem.pop("$defs", {}))
    components["Problem"] = problem
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    problem_ref = {"$ref": "#/components/schemas/Problem"}
    problem_content = {PROBLEM_MEDIA_TYPE: {"schema": problem_ref}}
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            for status, response in list(responses.items()):
                if status.startswith(("4", "5")):
                    response["content"] = problem_content
            for status, text in (("4XX", "Problem details"), ("5XX", "Problem details")):
                responses.setdefault(status, {"description": text, "content": problem_content})
    app.openapi_schema = schema
    return schema
