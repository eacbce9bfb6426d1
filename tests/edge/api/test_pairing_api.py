"""POST /api/v1/pairing-code and POST /api/v1/pair against a real LightBox over HTTP."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import APIRouter, Depends

from lightbox.edge.api.deps import require_token
from lightbox.edge.api.routes import pairing as pairing_routes
from lightbox.edge.pairing import MAX_FAILURES, Pairing
from lightbox.protocol import TextScene
from tests.edge.api.conftest import Box, assert_problem

PREFIX = "/api/v1"


@pytest.fixture(autouse=True)
def _with_pairing_routes(box: Box) -> None:
    """Include the pairing routers unless create_app already does."""
    paths = {getattr(route, "path", "") for route in box.app.routes}
    if f"{PREFIX}/pair" not in paths:
        box.app.include_router(pairing_routes.public, prefix=PREFIX)
        protected = APIRouter(dependencies=[Depends(require_token)])
        protected.include_router(pairing_routes.router)
        box.app.include_router(protected, prefix=PREFIX)


def _shown_scene(box: Box) -> object:
    return box.service.render_loop.player.scene


async def _wait_for_scene(box: Box, expected: object) -> None:
    for _ in range(100):
        if _shown_scene(box) == expected:
            return
        await asyncio.sleep(0.02)
    assert _shown_scene(box) == expected


async def test_issue_show_and_pair(
    box: Box, client: httpx.AsyncClient, anon: httpx.AsyncClient
) -> None:
    state_before = box.service.state
    response = await client.post(f"{PREFIX}/pairing-code", json={})
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    code = body["code"]
    assert len(code) == 9 and code[4] == "-"
    assert body["shown"] is True
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(seconds=590) < expires - datetime.now(UTC) <= timedelta(seconds=600)

    # the matrix shows the code, the state does not carry it
    shown = _shown_scene(box)
    assert isinstance(shown, TextScene) and code in shown.text
    assert box.service.state == state_before
    assert code not in box.service.state.model_dump_json()

    response = await anon.post(f"{PREFIX}/pair", json={"code": code.lower(), "name": "phone"})
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    paired = response.json()
    assert paired["name"] == "phone" and paired["token"] and paired["id"]
    await _wait_for_scene(box, state_before.scene)  # the display ended

    # the new token works
    state = await anon.get(f"{PREFIX}/state", headers=box.headers(paired["token"]))
    assert state.status_code == 200
    tokens = await client.get(f"{PREFIX}/tokens")
    assert paired["id"] in {t["id"] for t in tokens.json()}

    # single use
    again = await anon.post(f"{PREFIX}/pair", json={"code": code, "name": "laptop"})
    assert_problem(again, 401, "pairing_invalid")


async def test_issue_without_showing(box: Box, client: httpx.AsyncClient) -> None:
    before = _shown_scene(box)
    response = await client.post(f"{PREFIX}/pairing-code", json={"show": False, "ttl_s": 60})
    assert response.status_code == 201, response.text
    assert response.json()["shown"] is False
    assert _shown_scene(box) == before


async def test_display_can_be_cleared(box: Box, client: httpx.AsyncClient) -> None:
    before = box.service.state.scene
    response = await client.post(f"{PREFIX}/pairing-code", json={"show_s": 5})
    assert response.json()["shown"] is True
    display = box.app.state.pairing_display
    task = display._task
    assert task is not None
    task.cancel()  # stand-in for the 5 s wait: clear() puts the scene back
    await display.clear()
    await _wait_for_scene(box, before)


async def test_issuing_needs_a_token(anon: httpx.AsyncClient) -> None:
    response = await anon.post(f"{PREFIX}/pairing-code", json={})
    assert_problem(response, 401, "unauthorized")


async def test_wrong_codes_then_rate_limited(
    box: Box, client: httpx.AsyncClient, anon: httpx.AsyncClient
) -> None:
    code = (await client.post(f"{PREFIX}/pairing-code", json={"show": False})).json()["code"]
    for _ in range(MAX_FAILURES):
        response = await anon.post(f"{PREFIX}/pair", json={"code": "0000-0000", "name": "x"})
        assert_problem(response, 401, "pairing_invalid")
        assert "WWW-Authenticate" not in response.headers
    response = await anon.post(f"{PREFIX}/pair", json={"code": code, "name": "phone"})
    body = assert_problem(response, 429, "rate_limited")
    assert "try again" in str(body["detail"])
    retry_after = int(response.headers["retry-after"])
    assert 500 < retry_after <= 600


async def test_expired_code(box: Box, anon: httpx.AsyncClient) -> None:
    now = [datetime.now(UTC)]
    pairing = Pairing(box.service.store, clock=lambda: now[0])
    box.app.state.pairing = pairing
    code = pairing.issue(ttl_s=60)
    now[0] += timedelta(seconds=61)
    response = await anon.post(f"{PREFIX}/pair", json={"code": code, "name": "phone"})
    assert_problem(response, 401, "pairing_expired")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "phone"}, "code"),
        ({"code": "ABCD-EFGH"}, "name"),
        ({"code": "ABCD-EFGH", "name": ""}, "name"),
        ({"code": "A" * 33, "name": "phone"}, "code"),
    ],
)
async def test_bad_requests(anon: httpx.AsyncClient, body: dict[str, str], field: str) -> None:
    response = await anon.post(f"{PREFIX}/pair", json=body)
    assert_problem(response, 422, "invalid_command", field=field)
