"""The LightBox's local HTTP API: the app factory.

``create_app(service)`` builds the FastAPI app: REST under ``/api/v1`` (OpenAPI at
``/openapi.json``, Swagger UI at ``/docs``), the WebSocket at ``/api/v1/ws``, errors as
problem details. Every route needs an API token except ``GET /api/v1/info``, the docs and
``POST /api/v1/pair`` (a pairing code buys the first token) and the web app's files
(served at ``/`` when ``static_dir`` is given, e.g. ``static.WEB_APP_DIR``; see
:func:`lightbox.edge.api.static.mount_web_app`).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI

from lightbox import __version__
from lightbox.edge.api import problems, ws
from lightbox.edge.api.deps import require_token
from lightbox.edge.api.frames import FrameTap
from lightbox.edge.api.limits import BodyLimit, Limit
from lightbox.edge.api.routes import (
    device,
    media,
    pairing,
    playlists,
    presets,
    schedules,
    settings,
    tokens,
)
from lightbox.edge.api.static import mount_web_app
from lightbox.edge.service import LightBoxService
from lightbox.protocol import MAX_COMMAND_BYTES

API_PREFIX = "/api/v1"
DEFAULT_MAX_UPLOAD_BYTES = 8 * 1024 * 1024
MULTIPART_OVERHEAD = 64 * 1024
"""Room for the multipart boundary and headers around an uploaded file."""

DESCRIPTION = """\
Control a LightBox on your network. Every request needs an API token
(`Authorization: Bearer <token>`) except `GET /api/v1/info`. Errors are
[problem details](https://www.rfc-editor.org/rfc/rfc9457) whose `code` is stable.
Live state and preview: the WebSocket at `/api/v1/ws` (see docs/api.md).
"""


def create_app(
    service: LightBoxService,
    *,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    static_dir: Path | None = None,
) -> FastAPI:
    """The local API app for ``service`` (which its owner starts and stops)."""
    app = FastAPI(
        title="LightBox local API",
        version=__version__,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.service = service
    app.state.max_upload_bytes = max_upload_bytes
    app.state.frames = FrameTap(service)
    app.state.static_dir = static_dir
    problems.install(app)

    protected = APIRouter(
        dependencies=[Depends(require_token)],
        responses={401: {"description": "No valid API token"}},
    )
    protected.include_router(device.router)
    protected.include_router(presets.router)
    protected.include_router(playlists.router)
    protected.include_router(playlists.running)
    protected.include_router(schedules.router)
    protected.include_router(media.router)
    protected.include_router(settings.router)
    protected.include_router(tokens.router)
    protected.include_router(pairing.router)
    app.include_router(device.public, prefix=API_PREFIX)
    app.include_router(pairing.public, prefix=API_PREFIX)
    app.include_router(protected, prefix=API_PREFIX)
    app.include_router(ws.router, prefix=API_PREFIX)

    upload_path = f"{API_PREFIX}/media"
    upload = Limit(max_upload_bytes + MULTIPART_OVERHEAD, "media_too_large", "an upload")
    body = Limit(MAX_COMMAND_BYTES, "payload_too_large", "a request body")
    app.add_middleware(
        BodyLimit,
        limit_for=lambda method, path: upload if (method, path) == ("POST", upload_path) else body,
    )
    app.openapi = lambda: problems.openapi_with_problems(app)  # type: ignore[method-assign]
    if static_dir is not None:
        mount_web_app(app, static_dir)  # explicit routes: they never shadow the API
    return app
