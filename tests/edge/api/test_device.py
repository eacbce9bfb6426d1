"""Info, state, commands, stats, catalogue, frame.png and the shape of every error."""

from __future__ import annotations

import io

import httpx
import numpy as np
import numpy.typing as npt
from PIL import Image

from lightbox.protocol import EFFECTS, FONT_NAMES, PALETTES
from tests.edge.api.conftest import HEIGHT, WIDTH, Box, assert_problem

CUT = {"kind": "cut", "duration_ms": 0}


async def test_info_is_public(anon: httpx.AsyncClient) -> None:
    response = await anon.get("/api/v1/info")
    assert response.status_code == 200
    info = response.json()
    assert info["id"] == "lightbox-test"
    assert (info["width"], info["height"], info["driver"]) == (WIDTH, HEIGHT, "null")
    assert info["paired"] is True


async def test_state_and_its_version(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/state")
    assert response.status_code == 200
    state = response.json()
    assert state["version"] == 0
    assert response.headers["etag"] == '"0"'

    response = await client.patch("/api/v1/state", json={"brightness": 40, "power": False})
    assert response.status_code == 200
    assert response.json() == {"id": None, "ok": True, "error": None, "version": 1}
    assert response.headers["etag"] == '"1"'
    state = (await client.get("/api/v1/state")).json()
    assert (state["brightness"], state["power"], state["version"]) == (40, False, 1)


async def test_patch_state_errors_name_the_field(client: httpx.AsyncClient) -> None:
    response = await client.patch("/api/v1/state", json={"brightness": 999})
    body = assert_problem(response, 422, "invalid_command", field="brightness")
    assert body["errors"][0]["field"] == "brightness"  # type: ignore[index]
    response = await client.patch(
        "/api/v1/state", json={"scene": {"type": "solid", "color": "not-a-colour"}}
    )
    assert_problem(response, 422, "invalid_command", field="scene.color")
    response = await client.patch("/api/v1/state", json={})
    body = assert_problem(response, 422, "invalid_command")
    assert "at least one of power, brightness, scene" in str(body["detail"])
    response = await client.patch(
        "/api/v1/state", json={"scene": {"type": "image", "media": "missing.png"}}
    )
    assert_problem(response, 404, "media_not_found", field="scene")
    # nothing changed
    assert (await client.get("/api/v1/state")).json()["version"] == 0


async def test_commands(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/commands", json={"type": "set", "brightness": 10, "id": "cmd-1"}
    )
    assert response.status_code == 200
    assert response.json() == {"id": "cmd-1", "ok": True, "error": None, "version": 1}
    # the same id again: answered, not applied again
    again = await client.post(
        "/api/v1/commands", json={"type": "set", "brightness": 99, "id": "cmd-1"}
    )
    assert again.json() == response.json()
    assert (await client.get("/api/v1/state")).json()["brightness"] == 10
    response = await client.post("/api/v1/commands", json={"type": "identify", "duration_s": 0.5})
    assert response.json()["ok"] is True


async def test_command_errors(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/commands", json={"type": "dance"})
    assert_problem(response, 422, "unknown_command", field="type")
    response = await client.post("/api/v1/commands", json={"brightness": 3})
    assert_problem(response, 422, "invalid_command", field="type")
    response = await client.post("/api/v1/commands", json={"type": "set", "brightness": -1})
    assert_problem(response, 422, "invalid_command", field="brightness")
    response = await client.post("/api/v1/commands", json=[1, 2])
    assert_problem(response, 422, "invalid_command")
    response = await client.post(
        "/api/v1/commands", content=b'{"type": "set",', headers={"content-type": "application/json"}
    )
    assert_problem(response, 400, "invalid_json")
    # a command that fails in the service: its code, field and id
    response = await client.post(
        "/api/v1/commands", json={"type": "preset.apply", "preset": "nope", "id": "a-1"}
    )
    body = assert_problem(response, 404, "not_found", field="preset")
    assert body["id"] == "a-1"
    response = await client.post("/api/v1/commands", json={"type": "playlist.step"})
    assert_problem(response, 409, "conflict", field="playlist")


async def test_body_size_is_limited(client: httpx.AsyncClient) -> None:
    big = b'{"type": "set", "brightness": 1, "pad": "' + b"x" * 300_000 + b'"}'
    response = await client.post(
        "/api/v1/commands", content=big, headers={"content-type": "application/json"}
    )
    assert_problem(response, 413, "payload_too_large")

    async def chunks():  # no Content-Length: counted as it streams
        for _ in range(40):
            yield b" " * 10_000

    response = await client.post(
        "/api/v1/commands", content=chunks(), headers={"content-type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "payload_too_large")


async def test_stats_and_catalog(client: httpx.AsyncClient) -> None:
    stats = (await client.get("/api/v1/stats")).json()
    assert stats["target_fps"] == 30
    assert stats["rendered"] >= 1
    catalog = (await client.get("/api/v1/catalog")).json()
    assert [e["name"] for e in catalog["effects"]] == [e.name for e in EFFECTS]
    assert [p["name"] for p in catalog["palettes"]] == [p.name for p in PALETTES]
    assert catalog["fonts"] == list(FONT_NAMES)


async def test_unknown_routes_and_methods_are_problems(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/api/v1/nothing-here"), 404, "not_found")
    response = await client.delete("/api/v1/state")
    body = assert_problem(response, 405, "invalid_command")
    assert "GET" in str(body["detail"]) and "PATCH" in str(body["detail"])
    assert "GET" in response.headers["allow"]


def _png(response: httpx.Response) -> npt.NDArray[np.uint8]:
    """The PNG in ``response`` as an H x W x 3 array."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert response.content.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(response.content)) as image:
        assert image.format == "PNG"
        assert image.mode == "RGB"
        return np.asarray(image)


def _colours(pixels: npt.NDArray[np.uint8]) -> set[tuple[int, ...]]:
    return {tuple(int(c) for c in p) for p in pixels.reshape(-1, 3)}


async def test_frame_png_shows_the_current_scene(box: Box, client: httpx.AsyncClient) -> None:
    response = await client.patch(
        "/api/v1/state",
        json={"scene": {"type": "solid", "color": "#ff8000"}, "transition": CUT},
    )
    assert response.json()["ok"] is True
    pixels = _png(await client.get("/api/v1/frame.png"))
    assert pixels.shape == (HEIGHT, WIDTH, 3)
    assert _colours(pixels) == {(255, 128, 0)}

    pixels = _png(await client.get("/api/v1/frame.png", params={"scale": 4}))
    assert pixels.shape == (HEIGHT * 4, WIDTH * 4, 3)
    assert _colours(pixels) == {(255, 128, 0)}

    # a two-colour scene: static text on black; the upscale keeps crisp 3x3 blocks
    await client.patch(
        "/api/v1/state",
        json={
            "scene": {
                "type": "text",
                "text": "I",
                "font": "5x7",
                "mode": "static",
                "color": "#00ff00",
                "background": "#000000",
            },
            "transition": CUT,
        },
    )
    small = _png(await client.get("/api/v1/frame.png"))
    assert _colours(small) == {(0, 255, 0), (0, 0, 0)}
    big = _png(await client.get("/api/v1/frame.png", params={"scale": 3}))
    assert np.array_equal(big, np.repeat(np.repeat(small, 3, axis=0), 3, axis=1))


async def test_frame_png_scale_is_checked(client: httpx.AsyncClient) -> None:
    assert_problem(
        await client.get("/api/v1/frame.png?scale=0"), 422, "invalid_command", field="scale"
    )
    assert_problem(
        await client.get("/api/v1/frame.png?scale=33"), 422, "invalid_command", field="scale"
    )
    assert_problem(
        await client.get("/api/v1/frame.png?scale=x"), 422, "invalid_command", field="scale"
    )
