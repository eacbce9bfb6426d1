"""Presets, playlists and schedules: CRUD, apply/start/step/stop, and their errors."""

from __future__ import annotations

from typing import Any

import httpx

from tests.edge.api.conftest import Box, assert_problem

CUT = {"kind": "cut", "duration_ms": 0}


def preset(pid: str, color: str = "#102030", **extra: Any) -> dict[str, Any]:
    return {"id": pid, "name": pid.title(), "scene": {"type": "solid", "color": color}, **extra}


async def test_preset_crud(box: Box, client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/presets")).json() == []
    response = await client.post("/api/v1/presets", json=preset("warm"))
    assert response.status_code == 201
    assert response.headers["location"] == "/api/v1/presets/warm"
    assert response.json()["id"] == "warm"
    assert (await client.get("/api/v1/presets/warm")).json()["scene"]["color"] == "#102030"

    # POST an id that exists: 409, nothing replaced
    response = await client.post("/api/v1/presets", json=preset("warm", "#ffffff"))
    assert_problem(response, 409, "conflict", field="id")
    assert (await client.get("/api/v1/presets/warm")).json()["scene"]["color"] == "#102030"

    # PUT replaces (200) or creates (201)
    response = await client.put("/api/v1/presets/warm", json=preset("warm", "#ffffff"))
    assert response.status_code == 200
    assert box.service.store.get_preset("warm").scene.color == (255, 255, 255)  # type: ignore[union-attr]
    response = await client.put("/api/v1/presets/cool", json=preset("cool", "#0000ff"))
    assert response.status_code == 201
    assert [p["id"] for p in (await client.get("/api/v1/presets")).json()] == ["cool", "warm"]

    assert (await client.delete("/api/v1/presets/cool")).status_code == 204
    assert_problem(await client.get("/api/v1/presets/cool"), 404, "not_found", field="preset_id")
    assert_problem(await client.delete("/api/v1/presets/cool"), 404, "not_found", field="preset")


async def test_preset_errors(client: httpx.AsyncClient) -> None:
    response = await client.put("/api/v1/presets/a", json=preset("b"))
    assert_problem(response, 422, "invalid_command", field="id")
    response = await client.post("/api/v1/presets", json=preset("Bad Id"))
    body = assert_problem(response, 422, "invalid_command", field="id")
    assert body["errors"] and body["errors"][0]["field"] == "id"  # type: ignore[index]
    response = await client.post(
        "/api/v1/presets", json={**preset("x"), "scene": {"type": "effect", "effect": "nope"}}
    )
    assert_problem(response, 422, "invalid_command", field="scene.effect")
    response = await client.post(
        "/api/v1/presets", json={**preset("x"), "scene": {"type": "gif", "media": "cat.gif"}}
    )
    assert_problem(response, 404, "media_not_found", field="preset.scene")
    response = await client.post("/api/v1/presets", json={**preset("x"), "extra": 1})
    assert_problem(response, 422, "invalid_command", field="extra")
    assert_problem(await client.get("/api/v1/presets/" + "x" * 80), 404, "not_found")
    assert_problem(await client.delete("/api/v1/presets/" + "x" * 80), 404, "not_found")
    assert (await client.get("/api/v1/presets")).json() == []


async def test_apply_preset(client: httpx.AsyncClient) -> None:
    await client.post("/api/v1/presets", json=preset("red", "#ff0000", brightness=60))
    response = await client.post("/api/v1/presets/red/apply", json={"transition": CUT})
    assert response.status_code == 200
    assert response.json()["ok"] is True
    assert response.headers["etag"] == f'"{response.json()["version"]}"'
    state = (await client.get("/api/v1/state")).json()
    assert (state["preset"], state["brightness"]) == ("red", 60)
    assert state["scene"] == {"type": "solid", "color": "#ff0000"}
    # no body at all is fine too
    assert (await client.post("/api/v1/presets/red/apply")).json()["ok"] is True
    response = await client.post("/api/v1/presets/nope/apply")
    assert_problem(response, 404, "not_found", field="preset")
    response = await client.post("/api/v1/presets/red/apply", json={"transition": {"kind": "x"}})
    assert_problem(response, 422, "invalid_command", field="transition.kind")


async def test_playlists(client: httpx.AsyncClient) -> None:
    for pid, color in (("one", "#010101"), ("two", "#020202")):
        await client.post("/api/v1/presets", json=preset(pid, color))
    playlist = {
        "id": "loop",
        "name": "Loop",
        "entries": [
            {"preset": "one", "duration_s": 60, "transition": CUT},
            {"preset": "two", "duration_s": 60, "transition": CUT},
        ],
    }
    response = await client.post("/api/v1/playlists", json=playlist)
    assert response.status_code == 201
    assert_problem(await client.post("/api/v1/playlists", json=playlist), 409, "conflict")
    assert [p["id"] for p in (await client.get("/api/v1/playlists")).json()] == ["loop"]
    assert (await client.get("/api/v1/playlists/loop")).json()["name"] == "Loop"
    assert (await client.put("/api/v1/playlists/loop", json=playlist)).status_code == 200

    # the preset a playlist uses cannot be deleted
    assert_problem(await client.delete("/api/v1/presets/one"), 409, "conflict", field="preset")

    # nothing running yet
    assert_problem(await client.post("/api/v1/playlist/next"), 409, "conflict")

    assert (await client.post("/api/v1/playlists/loop/start")).json()["ok"] is True
    state = (await client.get("/api/v1/state")).json()
    assert (state["playlist"]["playlist"], state["preset"]) == ("loop", "one")
    assert "pass" in state["playlist"]  # the wire name, not pass_
    await client.post("/api/v1/playlist/next")
    assert (await client.get("/api/v1/state")).json()["preset"] == "two"
    await client.post("/api/v1/playlist/previous")
    assert (await client.get("/api/v1/state")).json()["preset"] == "one"
    assert (await client.post("/api/v1/playlist/stop")).json()["ok"] is True
    assert (await client.get("/api/v1/state")).json()["playlist"] is None

    missing = {**playlist, "id": "bad", "entries": [{"preset": "ghost"}]}
    response = await client.put("/api/v1/playlists/bad", json=missing)
    assert_problem(response, 404, "not_found", field="playlist.entries")
    response = await client.put("/api/v1/playlists/other", json=playlist)
    assert_problem(response, 422, "invalid_command", field="id")
    response = await client.post("/api/v1/playlists", json={**playlist, "entries": []})
    assert_problem(response, 422, "invalid_command", field="entries")
    assert_problem(
        await client.post("/api/v1/playlists/ghost/start"), 404, "not_found", field="playlist"
    )
    assert (await client.delete("/api/v1/playlists/loop")).status_code == 204
    assert_problem(await client.get("/api/v1/playlists/loop"), 404, "not_found")
    assert_problem(await client.delete("/api/v1/playlists/loop"), 404, "not_found")


async def test_schedules(client: httpx.AsyncClient) -> None:
    await client.post("/api/v1/presets", json=preset("night", "#000010"))
    schedule = {
        "id": "bedtime",
        "name": "Bedtime",
        "trigger": {"type": "time", "at": "22:30"},
        "action": {"type": "preset.apply", "preset": "night"},
    }
    assert (await client.post("/api/v1/schedules", json=schedule)).status_code == 201
    assert_problem(await client.post("/api/v1/schedules", json=schedule), 409, "conflict")
    got = (await client.get("/api/v1/schedules/bedtime")).json()
    assert got["trigger"] == {"type": "time", "at": "22:30"}
    assert [s["id"] for s in (await client.get("/api/v1/schedules")).json()] == ["bedtime"]
    response = await client.put("/api/v1/schedules/bedtime", json={**schedule, "enabled": False})
    assert response.status_code == 200
    assert (await client.get("/api/v1/schedules/bedtime")).json()["enabled"] is False

    bad_time = {**schedule, "trigger": {"type": "time", "at": "25:00"}}
    assert_problem(
        await client.put("/api/v1/schedules/bedtime", json=bad_time),
        422,
        "invalid_command",
        field="trigger.at",
    )
    sun = {**schedule, "id": "dusk", "trigger": {"type": "sun", "event": "sunset"}}
    assert_problem(
        await client.put("/api/v1/schedules/dusk", json=sun),
        422,
        "invalid_command",
        field="schedule.trigger",
    )  # no location set
    ghost = {**schedule, "id": "g", "action": {"type": "preset.apply", "preset": "ghost"}}
    assert_problem(
        await client.put("/api/v1/schedules/g", json=ghost),
        404,
        "not_found",
        field="schedule.action.preset",
    )
    assert_problem(await client.delete("/api/v1/presets/night"), 409, "conflict")
    assert (await client.delete("/api/v1/schedules/bedtime")).status_code == 204
    assert_problem(
        await client.get("/api/v1/schedules/bedtime"), 404, "not_found", field="schedule_id"
    )
    assert_problem(
        await client.delete("/api/v1/schedules/bedtime"), 404, "not_found", field="schedule"
    )
