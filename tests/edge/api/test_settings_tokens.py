"""Settings (PUT and merge-patch) and API tokens."""

from __future__ import annotations

import httpx

from lightbox.edge.api.routes.settings import merge_patch
from tests.edge.api.conftest import Box, assert_problem


def test_merge_patch_follows_rfc_7396() -> None:
    # the examples of RFC 7396, appendix A
    cases = [
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        (["a", "b"], ["c", "d"], ["c", "d"]),
        ({"a": "b"}, ["c"], ["c"]),
        ({"a": "foo"}, None, None),
        ({"a": "foo"}, "bar", "bar"),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ]
    for target, patch, expected in cases:
        assert merge_patch(target, patch) == expected, (target, patch)


async def test_get_and_put_settings(box: Box, client: httpx.AsyncClient) -> None:
    settings = (await client.get("/api/v1/settings")).json()
    assert settings["name"] == "Test box"
    assert settings["driver"] == {"name": "null"}
    settings["name"] = "Kitchen"
    settings["output"]["gamma"] = 1.0
    response = await client.put("/api/v1/settings", json=settings)
    assert response.status_code == 200, response.text
    assert response.json() == settings
    assert box.service.settings.name == "Kitchen"
    assert box.service.store.load_settings().name == "Kitchen"  # type: ignore[union-attr]
    assert (await client.get("/api/v1/info")).json()["name"] == "Kitchen"

    settings["matrix"]["width"] = 0
    response = await client.put("/api/v1/settings", json=settings)
    assert_problem(response, 422, "invalid_command", field="matrix.width")
    del settings["matrix"]
    settings["colour"] = "red"
    response = await client.put("/api/v1/settings", json=settings)
    assert_problem(response, 422, "invalid_command", field="colour")
    assert box.service.settings.matrix.width == 16


async def test_patch_settings(box: Box, client: httpx.AsyncClient) -> None:
    headers = {"content-type": "application/merge-patch+json"}
    response = await client.patch(
        "/api/v1/settings", content=b'{"name": "Hall", "output": {"fps": 20}}', headers=headers
    )
    assert response.status_code == 200, response.text
    assert (response.json()["name"], response.json()["output"]["fps"]) == ("Hall", 20)
    assert response.json()["output"]["gamma"] == 2.2  # untouched
    assert box.service.render_loop.stats().target_fps == 20  # a new render loop

    # plain JSON works too; null puts a field back to its default
    response = await client.patch(
        "/api/v1/settings", json={"location": {"latitude": 52.5, "longitude": 13.4}}
    )
    assert response.json()["location"] == {"latitude": 52.5, "longitude": 13.4}
    response = await client.patch("/api/v1/settings", json={"location": None, "name": None})
    assert (response.json()["location"], response.json()["name"]) == (None, "LightBox")

    # a different driver replaces the old one's fields
    response = await client.patch("/api/v1/settings", json={"driver": {"name": "emulator"}})
    assert response.json()["driver"] == {"name": "emulator", "scale": 8}
    response = await client.patch("/api/v1/settings", json={"driver": {"name": "null"}})
    assert response.json()["driver"] == {"name": "null"}

    response = await client.patch("/api/v1/settings", json={"output": {"fps": 0}})
    assert_problem(response, 422, "invalid_command", field="output.fps")
    response = await client.patch("/api/v1/settings", json={"timezone": "Mars/Olympus"})
    body = assert_problem(response, 422, "invalid_command")
    assert "Mars/Olympus" in str(body["detail"])  # (the protocol checks it model-wide)
    response = await client.patch("/api/v1/settings", json=[1])
    assert_problem(response, 422, "invalid_command")
    response = await client.patch("/api/v1/settings", content=b"{", headers=headers)
    assert_problem(response, 400, "invalid_json")
    assert box.service.settings.output.fps == 20


async def test_tokens(box: Box, client: httpx.AsyncClient, anon: httpx.AsyncClient) -> None:
    listed = (await client.get("/api/v1/tokens")).json()
    assert [t["name"] for t in listed] == ["tests"]
    assert set(listed[0]) == {"id", "name", "created_at", "last_used_at"}

    response = await client.post("/api/v1/tokens", json={"name": "phone"})
    assert response.status_code == 201
    created = response.json()
    assert created["name"] == "phone"
    assert created["token"].startswith("lbx_")
    assert response.headers["cache-control"] == "no-store"
    listed = (await client.get("/api/v1/tokens")).json()
    assert [t["name"] for t in listed] == ["tests", "phone"]
    assert created["token"] not in str(listed)

    phone = {"Authorization": f"Bearer {created['token']}"}
    assert (await anon.get("/api/v1/state", headers=phone)).status_code == 200
    assert (await client.delete(f"/api/v1/tokens/{created['id']}")).status_code == 204
    assert_problem(await anon.get("/api/v1/state", headers=phone), 401, "unauthorized")
    assert_problem(
        await client.delete(f"/api/v1/tokens/{created['id']}"), 404, "not_found", field="token_id"
    )

    assert_problem(
        await client.post("/api/v1/tokens", json={"name": ""}), 422, "invalid_command", field="name"
    )
    assert_problem(
        await client.post("/api/v1/tokens", json={}), 422, "invalid_command", field="name"
    )


async def test_a_driver_that_cannot_start_changes_nothing(
    box: Box, client: httpx.AsyncClient
) -> None:
    # rpi_ws281x is not installed here: refused, and the matrix keeps rendering
    response = await client.patch(
        "/api/v1/settings", json={"driver": {"name": "ws281x"}, "output": {"fps": 25}}
    )
    body = assert_problem(response, 422, "invalid_command", field="settings.driver")
    assert "rpi_ws281x" in str(body["detail"])
    assert box.service.settings.driver.name == "null"
    assert box.service.settings.output.fps == 30
    assert box.service.store.load_settings() is None  # nothing stored
    assert (await client.get("/api/v1/frame.png")).status_code == 200
    assert box.service.render_loop.running
