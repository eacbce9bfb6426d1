"""The error tree: problem details of both APIs and transport failures, mapped once.

Uses ``httpx.MockTransport`` through the clients' ``session`` door (the real APIs are in
test_hybrid.py).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

import lightbox.client as sdk
from lightbox.client import (
    CloudClient,
    CommandRefused,
    ConnectionFailed,
    DeviceOffline,
    LightBoxClientError,
    LocalClient,
    NotFound,
    RateLimited,
    Timeout,
    Unauthorized,
)
from lightbox.client.commands import prepare, scene_from


def problem(status: int, code: str, **extra: Any) -> httpx.Response:
    body = {"type": f"/problems/{code}", "title": code, "status": status, "detail": code}
    return httpx.Response(status, json={**body, "code": code, **extra})


def session(handler: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


@pytest.mark.parametrize(
    ("status", "code", "extra", "kind"),
    [
        (401, "unauthorized", {}, Unauthorized),
        (404, "not_found", {"field": "device_id"}, NotFound),
        (503, "offline", {}, DeviceOffline),
        (504, "timeout", {}, Timeout),
        (429, "rate_limited", {}, RateLimited),
        (422, "invalid_command", {"field": "brightness"}, CommandRefused),
        (404, "not_found", {"field": "preset", "id": "c-1"}, CommandRefused),
        (409, "conflict", {"id": "c-1"}, CommandRefused),
        (500, "internal", {}, LightBoxClientError),
    ],
)
async def test_problem_codes_map_to_one_tree(
    status: int, code: str, extra: dict[str, Any], kind: type[LightBoxClientError]
) -> None:
    async with session(lambda request: problem(status, code, **extra)) as s:
        for client in (
            LocalClient("http://box", "t", session=s),
            CloudClient("http://cloud", access_token="a", device_id="box-1", session=s),
        ):
            with pytest.raises(kind) as err:
                await client.send({"type": "identify"})
            assert err.value.code == code
            assert err.value.status == status
            assert err.value.field == extra.get("field")
            if isinstance(err.value, CommandRefused):
                assert err.value.result.error is not None
                assert err.value.result.error.code == code


async def test_transport_errors() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    async with session(refuse) as a, session(slow) as b:
        with pytest.raises(ConnectionFailed) as refused:
            await LocalClient("http://box", "t", session=a).info()
        assert isinstance(refused.value.__cause__, httpx.ConnectError)
        assert not refused.value.answered
        with pytest.raises(Timeout) as late:
            await LocalClient("http://box", "t", session=b).state()
        assert late.value.status is None


async def test_outside_session_is_not_closed() -> None:
    async with session(lambda r: httpx.Response(200, json={})) as s:
        client = LocalClient("http://box", "t", session=s)
        await client.aclose()
        assert not s.is_closed


async def test_cloud_client_refreshes_once_on_401() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path} {request.headers.get('authorization')}")
        if request.url.path.endswith("/auth/refresh"):
            tokens = {"access_token": "new", "refresh_token": "r2", "expires_in": 900}
            return httpx.Response(200, json=tokens)
        if request.headers.get("authorization") != "Bearer new":
            return problem(401, "unauthorized")
        return httpx.Response(200, json=[])

    kept: list[str] = []
    async with session(handler) as s:
        client = CloudClient(
            "http://cloud",
            access_token="old",
            refresh_token="r1",
            session=s,
            on_tokens=lambda t: kept.append(t.refresh_token),
        )
        assert await client.devices() == []
    assert kept == ["r2"]
    assert [line.split()[1] for line in seen] == [
        "/api/v1/devices",
        "/api/v1/auth/refresh",
        "/api/v1/devices",
    ]


def test_prepare_adds_one_id_and_keeps_a_given_one() -> None:
    body = prepare({"type": "identify"})
    assert len(body["id"]) == 32
    assert prepare(json.dumps({"type": "identify", "id": "x"}))["id"] == "x"
    assert scene_from(effect="plasma", params={"speed": 9, "scale": 2}) == {
        "type": "effect",
        "effect": "plasma",
        "speed": 9,
        "params": {"scale": 2},
    }
    assert scene_from(color="#ff0000") == {"type": "solid", "color": "#ff0000"}


def test_all_is_complete() -> None:
    exported = {name for name in dir(sdk) if not name.startswith("_")}
    public = {
        n for n in exported if n[0].isupper() or n in ("prepare", "scene_from", "set_command")
    }
    assert public <= set(sdk.__all__)
    for name in sdk.__all__:
        assert hasattr(sdk, name)
