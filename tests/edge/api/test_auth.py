"""Every route but the public ones needs a valid, unrevoked API token."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from lightbox.edge.api import create_app
from tests.edge.api.conftest import Box, assert_problem

PUBLIC = {("GET", "/api/v1/info"), ("POST", "/api/v1/pair")}


def _routes() -> list[tuple[str, str]]:
    """Every (method, path) of the app, taken from the app itself."""
    app = create_app(service=None)  # type: ignore[arg-type]  # routes only
    found = []
    # FastAPI keeps included routers nested in app.routes; this walks them all
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute) and route.path and route.methods:
            found += [(method, route.path) for method in sorted(route.methods)]
    return found


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


PROTECTED = [r for r in _routes() if r not in PUBLIC]


def test_the_route_list_is_complete() -> None:
    assert len(PROTECTED) >= 30
    assert ("GET", "/api/v1/state") in PROTECTED
    assert ("POST", "/api/v1/media") in PROTECTED
    assert all(path.startswith("/api/v1/") for _, path in PROTECTED)


@pytest.fixture(scope="module")
def http(threaded_box: Box) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=threaded_box.url, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def revoked(threaded_box: Box) -> str:
    token_id, token = threaded_box.new_token("to revoke")
    with threaded_box.service.store.transaction() as tx:
        assert tx.revoke_token(token_id)
    return token


@pytest.mark.parametrize(("method", "path"), PROTECTED, ids=[f"{m} {p}" for m, p in PROTECTED])
def test_protected_routes_refuse_requests_without_a_valid_token(
    threaded_box: Box, http: httpx.Client, revoked: str, method: str, path: str
) -> None:
    url = _concrete(path)
    for headers in (
        {},
        {"Authorization": "Bearer lbx_not-a-token"},
        {"Authorization": f"Basic {threaded_box.token}"},
        {"Authorization": f"Bearer {revoked}"},
        {"Authorization": "Bearer " + "x" * 5000},
    ):
        response = http.request(method, url, headers=headers, json={})
        body = assert_problem(response, 401, "unauthorized", field="authorization")
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "token" in str(body["detail"])


async def test_public_routes_need_no_token(anon: httpx.AsyncClient) -> None:
    for path in ("/api/v1/info", "/openapi.json", "/docs"):
        assert (await anon.get(path)).status_code == 200, path
    response = await anon.post("/api/v1/pair", json={"code": "AAAA-BBBB", "name": "phone"})
    assert response.status_code == 401  # a wrong code, not a missing token
    assert response.json()["code"] != "unauthorized"


async def test_a_valid_token_works_and_a_revoked_one_stops_at_once(
    box: Box, anon: httpx.AsyncClient
) -> None:
    token_id, token = box.new_token("phone")
    assert (await anon.get("/api/v1/state", headers=box.headers(token))).status_code == 200
    with box.service.store.transaction() as tx:
        tx.revoke_token(token_id)
    response = await anon.get("/api/v1/state", headers=box.headers(token))
    assert_problem(response, 401, "unauthorized")


def test_openapi_documents_the_bearer_scheme() -> None:
    app = create_app(service=None)  # type: ignore[arg-type]
    schema = app.openapi()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["bearer"]["description"],
    }
    for method, path in PROTECTED:
        operation = schema["paths"][path][method.lower()]
        assert operation["security"] == [{"bearer": []}], (method, path)
        assert "application/problem+json" in operation["responses"]["401"]["content"]
    assert "security" not in schema["paths"]["/api/v1/info"]["get"]


async def test_the_web_app_is_served_without_a_token(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<!doctype html><title>LightBox</title>")
    (tmp_path / "app.js").write_text("console.log('hi')")
    app = create_app(service=None, static_dir=tmp_path)  # type: ignore[arg-type]
    assert app.state.static_dir == tmp_path
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://box") as http:
        assert (await http.get("/")).text.startswith("<!doctype html>")
        assert (await http.get("/app.js")).status_code == 200
        # the API is still the API
        assert (await http.get("/api/v1/state")).status_code == 401
