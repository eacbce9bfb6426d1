"""The cloud API: the app factory.

``create_app(config)`` builds a stateless instance: REST under ``/api/v1`` (OpenAPI at
``/openapi.json``, Swagger UI at ``/docs``), errors as RFC 9457 problem details with the
same codes as a LightBox's local API. Its lifespan opens the database, Redis and the broker
slots (:meth:`CloudServices.open`) and closes them at shutdown. Pass ``services`` to use
ones opened elsewhere (tests, several apps on the same services); the caller closes those.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from lightbox import __version__
from lightbox.cloud.api import dashboard
from lightbox.cloud.api.routes import auth, devices, registration, releases, sync, users
from lightbox.cloud.broker.errors import BrokerAdminError
from lightbox.cloud.config import CloudConfig
from lightbox.cloud.errors import RateLimited
from lightbox.cloud.services import CloudServices
from lightbox.edge.api import problems
from lightbox.edge.api.limits import BodyLimit, Limit
from lightbox.edge.api.problems import openapi_with_problems
from lightbox.protocol import MAX_COMMAND_BYTES

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
BROKER_RETRY_AFTER_S = 5

DESCRIPTION = """\
Reach your LightBoxes from anywhere. Sign up, log in (`POST /api/v1/auth/login`) and send
the access token as `Authorization: Bearer <token>`; claim a LightBox with the code on its
matrix; list and control your devices. Errors are
[problem details](https://www.rfc-editor.org/rfc/rfc9457) whose `code` is stable — the
same codes as a LightBox's local API. See docs/cloud-api.md.
"""


def create_app(config: CloudConfig, *, services: CloudServices | None = None) -> FastAPI:
    """The cloud API for ``config``; ``services``: already open (the caller closes them)."""
    config.secret()  # no signing secret, no app

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if services is not None:
            yield
            return
        opened = await CloudServices.open(config)
        app.state.services = opened
        try:
            yield
        finally:
            await opened.close()

    app = FastAPI(
        title="LightBox cloud API",
        version=__version__,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.config = config
    if services is not None:
        app.state.services = services
    problems.install(app)
    app.add_exception_handler(RateLimited, _rate_limited)
    app.add_exception_handler(BrokerAdminError, _broker_unavailable)

    api = APIRouter(prefix=API_PREFIX)
    api.include_router(auth.router)
    api.include_router(users.router)
    api.include_router(registration.router)
    api.include_router(devices.router)
    api.include_router(sync.router)
    api.include_router(releases.router)
    app.include_router(api)
    dashboard.install(app, API_PREFIX)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "instance": config.instance_id}

    body = Limit(MAX_COMMAND_BYTES, "payload_too_large", "a request body")
    app.add_middleware(BodyLimit, limit_for=lambda method, path: body)
    app.openapi = lambda: openapi_with_problems(app)  # type: ignore[method-assign]
    return app


def _rate_limited(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RateLimited)
    return problems.problem_response(
        status=429,
        code="rate_limited",
        detail=exc.message,
        instance=request.url.path,
        field=exc.field,
        headers={"Retry-After": str(exc.retry_after_s)},
    )


def _broker_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.error("%s %s: broker: %s", request.method, request.url.path, exc, exc_info=exc)
    return problems.problem_response(
        status=503,
        code="busy",
        detail="the cloud broker cannot provision devices right now; try again shortly",
        instance=request.url.path,
        headers={"Retry-After": str(BROKER_RETRY_AFTER_S)},
    )
