"""Property-based requests generated from the cloud's /openapi.json: never a 5xx.

A real cloud instance (PostgreSQL schema and Redis prefix of its own, uvicorn on a free
port) runs in a thread with its own event loop, with a signed-in user who owns a device;
schemathesis sends its requests with that user's token. Bounded: the examples and fuzzing
phases with a few examples per operation, about 20 s. Log-out is left out (it would end
the session the run relies on); it is tested in test_accounts.py.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig

from lightbox.cloud.api import create_app
from lightbox.cloud.ratelimit import Limits, Rule
from lightbox.cloud.security import Passwords
from tests.cloud.conftest import (
    PASSWORD,
    SECRET,
    Backend,
    create_schema,
    delete_prefix,
    drop_schema,
)

EXAMPLES_PER_OPERATION = 15

CONFIG = SchemathesisConfig.from_dict(
    {
        "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
        "generation": {"max-examples": EXAMPLES_PER_OPERATION},
        "seed": 20250105,
    }
)

schema = schemathesis.openapi.from_dict(
    create_app(Backend("x", "sqlite+aiosqlite://").config(jwt_secret=SECRET)).openapi(),
    config=CONFIG,
).exclude(path="/api/v1/auth/logout")

# generous limits: the run should reach the handlers, not only the 429s
LOOSE = Limits(**{f.name: Rule(f.name, 100_000, 60) for f in fields(Limits)})


@dataclass
class Running:
    url: str
    token: str
    device_id: str


@pytest.fixture(scope="module")
def running_cloud(pg_url: str, redis_url: str) -> Iterator[Running]:
    """A cloud instance on uvicorn, in a thread with its own event loop."""
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def main() -> None:
        schema_name = await create_schema(pg_url)
        prefix = f"lbtest:st-{schema_name}:"
        backend = Backend("postgres", pg_url, schema_name, redis_url, prefix)
        from lightbox.cloud.db import create_engine
        from lightbox.cloud.db.migrate import upgrade

        engine = create_engine(pg_url, schema=schema_name)
        await upgrade(engine)
        await engine.dispose()
        services = await backend.open(passwords=Passwords.fast(), limits=LOOSE)
        stop = asyncio.Event()
        holder["stop"] = (asyncio.get_running_loop(), stop)
        try:
            app = create_app(services.config, services=services)
            server = uvicorn.Server(
                uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="off")
            )
            task = asyncio.create_task(server.serve())
            while not server.started:
                if task.done():
                    await task
                await asyncio.sleep(0.01)
            port = server.servers[0].sockets[0].getsockname()[1]
            url = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=url, timeout=10) as client:
                credentials = {"email": "fuzz@example.com", "password": PASSWORD}
                (await client.post("/api/v1/auth/signup", json=credentials)).raise_for_status()
                r = await client.post("/api/v1/auth/login", json=credentials)
                token = r.json()["access_token"]
                body = {"device_id": "fuzz-box", "name": "Fuzz", "version": "1"}
                reg = (await client.post("/api/v1/devices/register", json=body)).json()
                r = await client.post(
                    "/api/v1/devices/claim",
                    json={"code": reg["claim_code"]},
                    headers={"Authorization": f"Bearer {token}"},
                )
                r.raise_for_status()
            holder["running"] = Running(url, token, "fuzz-box")
            ready.set()
            await stop.wait()
            server.should_exit = True
            await asyncio.wait_for(task, 10)
        finally:
            ready.set()
            await services.close()
            await drop_schema(pg_url, schema_name)
            await delete_prefix(redis_url, prefix)

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as err:
            holder["error"] = err

    thread = threading.Thread(target=run, name="threaded-cloud", daemon=True)
    thread.start()
    ready.wait(60)
    if "running" not in holder:
        thread.join(10)
        raise RuntimeError(f"the cloud did not start: {holder.get('error')!r}")
    try:
        yield holder["running"]
    finally:
        loop, stop = holder["stop"]
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        if "error" in holder:
            raise holder["error"]


@pytest.mark.schemathesis
@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors(case: schemathesis.Case[Any], running_cloud: Running) -> None:
    case.call_and_validate(
        base_url=running_cloud.url,
        headers={"Authorization": f"Bearer {running_cloud.token}"},
        checks=[not_a_server_error],
        timeout=20,
    )
