"""Security: for every device route (collected from the app, so a new route cannot escape),
another user cannot see or control someone's device, and missing, expired and revoked
tokens are refused."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from lightbox.cloud.api import create_app
from lightbox.protocol import Command, CommandResult
from tests.cloud.conftest import SECRET, Api, Backend, Clock, User, assert_problem

# a valid body for every route that takes one: a 404 must not hide behind a 422
BODIES: dict[tuple[str, str], Any] = {
    ("PATCH", "/api/v1/devices/{device_id}"): {"name": "Mine now"},
    ("POST", "/api/v1/devices/{device_id}/commands"): {"type": "set", "power": False},
    ("POST", "/api/v1/devices/{device_id}/update/status"): {"state": "downloading"},
    ("PATCH", "/api/v1/devices/{device_id}/synced"): {"state": {"brightness": 1}},
}
NO_BODY = {
    ("GET", "/api/v1/devices/{device_id}"),
    ("DELETE", "/api/v1/devices/{device_id}"),
    ("POST", "/api/v1/devices/{device_id}/credentials/revoke"),
    ("POST", "/api/v1/devices/{device_id}/claim-code"),
    ("GET", "/api/v1/devices/{device_id}/update"),
    ("GET", "/api/v1/devices/{device_id}/update-status"),
    ("GET", "/api/v1/devices/{device_id}/synced"),
    ("GET", "/api/v1/devices/{device_id}/telemetry"),
}
# routes that need no signed-in user
PUBLIC = {
    ("POST", "/api/v1/auth/signup"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/refresh"),
    ("POST", "/api/v1/auth/logout"),
    ("POST", "/api/v1/devices/register"),
    ("POST", "/api/v1/devices/{device_id}/claim-code"),
    ("GET", "/api/v1/devices/{device_id}/update"),
    ("POST", "/api/v1/devices/{device_id}/update/status"),
}


def api_routes() -> list[tuple[str, str, APIRoute]]:
    """Every (method, path, route) of the app's API (included routers flattened)."""
    app = create_app(Backend("x", "sqlite+aiosqlite://").config(jwt_secret=SECRET))
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        path = context.path or ""
        if isinstance(route, APIRoute) and path.startswith("/api/"):
            for method in sorted(context.methods or ()):
                found.append((method, path, route))
    assert found, "no API routes found: has FastAPI's routing changed?"
    return found


DEVICE_ROUTES = [(m, p, r) for m, p, r in api_routes() if "{device_id}" in p]
USER_DEVICE_ROUTES = [
    (m, p)
    for m, p, r in DEVICE_ROUTES
    if (r.openapi_extra or {}).get("x-lightbox-auth") != "device"
]
DEVICE_AUTH_ROUTES = [(m, p) for m, p, r in DEVICE_ROUTES if (m, p) not in USER_DEVICE_ROUTES]
PRIVATE_ROUTES = [(m, p) for m, p, _ in api_routes() if (m, p) not in PUBLIC]


def test_every_device_route_is_covered() -> None:
    assert len(USER_DEVICE_ROUTES) >= 5
    assert sorted(DEVICE_AUTH_ROUTES) == [
        ("GET", "/api/v1/devices/{device_id}/update"),
        ("POST", "/api/v1/devices/{device_id}/claim-code"),
        ("POST", "/api/v1/devices/{device_id}/update/status"),
    ]
    for method, path, _ in DEVICE_ROUTES:
        assert (method, path) in BODIES or (method, path) in NO_BODY, (
            f"{method} {path}: add a valid body to BODIES (or NO_BODY) in this test"
        )


async def request(api: Api, method: str, path: str, device_id: str, user: User | None) -> Any:
    url = path.replace("{device_id}", device_id)
    body = BODIES.get((method, path))
    headers = user.headers if user else {}
    return await api.client.request(method, url, json=body, headers=headers)


async def snapshot(api: Api, owner: User, device_id: str) -> dict[str, Any]:
    r = await api.client.get(f"/api/v1/devices/{device_id}", headers=owner.headers)
    assert r.status_code == 200
    body: dict[str, Any] = r.json()
    return body


@pytest.mark.parametrize(("method", "path"), USER_DEVICE_ROUTES)
async def test_other_users_get_404(api: Api, method: str, path: str) -> None:
    alice, bob = await api.user(), await api.user()
    reg = await api.owned_device(alice)
    device_id = reg["device_id"]

    async def device(cmd: Command) -> CommandResult:
        return CommandResult(id=cmd.id, ok=True, version=1)

    api.relay.connect(device_id, device)
    before = await snapshot(api, alice, device_id)
    r = await request(api, method, path, device_id, bob)
    body = assert_problem(r, 404, "not_found")
    # the same answer as for a device that does not exist: nothing tells them apart
    missing = await request(api, method, path, "no-such-device", bob)
    assert_problem(missing, 404, "not_found")
    assert body["detail"].replace(device_id, "ID") == missing.json()["detail"].replace(
        "no-such-device", "ID"
    )
    # and nothing happened to alice's device
    assert await snapshot(api, alice, device_id) == before
    assert api.relay.sent == []
    assert api.broker.check(reg["mqtt"]["username"], reg["mqtt"]["password"])
    # the owner may
    r = await request(api, method, path, device_id, alice)
    assert r.status_code < 300, r.text


@pytest.mark.parametrize(("method", "path"), DEVICE_AUTH_ROUTES)
async def test_device_routes_refuse_users(api: Api, method: str, path: str) -> None:
    alice = await api.user()
    reg = await api.owned_device(alice)
    r = await request(api, method, path, reg["device_id"], alice)
    assert_problem(r, 403, "forbidden")


@pytest.mark.parametrize(("method", "path"), PRIVATE_ROUTES)
async def test_no_token_is_refused(api: Api, method: str, path: str) -> None:
    r = await request(api, method, path, "some-device", None)
    assert_problem(r, 401, "unauthorized")


async def test_expired_and_revoked_tokens_on_every_route(api: Api, clock: Clock) -> None:
    alice = await api.user()
    reg = await api.owned_device(alice)
    device_id = reg["device_id"]
    logged_out = await api.login(alice.email)
    r = await api.client.post(
        "/api/v1/auth/logout", headers={"Authorization": f"Bearer {logged_out['access_token']}"}
    )
    assert r.status_code == 204
    revoked = User(alice.email, alice.password, logged_out["access_token"], "")
    for method, path in PRIVATE_ROUTES:
        r = await request(api, method, path, device_id, revoked)
        assert_problem(r, 401, "unauthorized")
    clock.advance(api.services.config.access_token_ttl_s)
    for method, path in PRIVATE_ROUTES:
        r = await request(api, method, path, device_id, alice)
        body = assert_problem(r, 401, "unauthorized")
        assert "expired" in body["detail"]
    # alice's device is untouched by all of that
    tokens = await api.login(alice.email)
    owner = User(alice.email, alice.password, tokens["access_token"], tokens["refresh_token"])
    body = await snapshot(api, owner, device_id)
    assert body["name"] == "Kitchen" and body["credentials_revoked"] is False


async def test_list_shows_only_your_devices(api: Api) -> None:
    alice, bob = await api.user(), await api.user()
    a1 = await api.owned_device(alice)
    a2 = await api.owned_device(alice)
    b1 = await api.owned_device(bob)
    await api.register()  # unclaimed: nobody's
    mine = {
        d["device_id"]
        for d in (await api.client.get("/api/v1/devices", headers=alice.headers)).json()
    }
    theirs = {
        d["device_id"]
        for d in (await api.client.get("/api/v1/devices", headers=bob.headers)).json()
    }
    assert mine == {a1["device_id"], a2["device_id"]}
    assert theirs == {b1["device_id"]}
