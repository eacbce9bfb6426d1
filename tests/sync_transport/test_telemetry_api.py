"""Telemetry stored and queryable; the new endpoints are the owner's only."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from lightbox.cloud.broker.local import LocalMosquitto
from tests.sync_transport.harness import eventually, open_box, open_cloud
from tests.sync_transport.test_convergence import claimed, converged

pytestmark = pytest.mark.integration


async def test_telemetry_is_stored_and_downsampled(
    tmp_path: Path, pg_url: str, schema: str, broker: LocalMosquitto
) -> None:
    async with (
        open_cloud(pg_url, schema, broker) as cloud,
        open_box(tmp_path / "box", cloud, broker) as box,
    ):
        headers = await claimed(box, cloud)
        url = f"/api/v1/devices/{box.device_id}/telemetry"

        async def stored() -> bool:
            r = await cloud.http.get(url, params={"bucket": 1}, headers=headers)
            assert r.status_code == 200, r.text
            count: int = sum(p["samples"] for p in r.json()["points"])
            return count >= 3

        await eventually(stored, "three telemetry samples")
        r = await cloud.http.get(url, params={"bucket": 3600}, headers=headers)
        body = r.json()
        assert body["bucket_s"] == 3600
        assert len(body["points"]) <= 2
        fields = body["points"][-1]["fields"]
        for name in ("uptime_s", "fps", "dropped_frames", "estimated_ma", "commands", "errors"):
            assert name in fields
        r = await cloud.http.get(
            url,
            params={"since": "2030-01-01T00:00:00Z", "until": "2020-01-01T00:00:00Z"},
            headers=headers,
        )
        assert r.status_code == 422

        await eventually(lambda: converged(box, cloud, headers), "sync")
        r = await cloud.http.get("/api/v1/fleet/summary", headers=headers)
        summary = r.json()
        assert summary["devices"] == 1
        assert summary["reporting"] == 1
        assert summary["synced"] == 1
        assert summary["avg_fps"] is not None
        assert summary["versions"]


async def test_endpoints_are_owner_only(
    tmp_path: Path, pg_url: str, schema: str, broker: LocalMosquitto
) -> None:
    async with (
        open_cloud(pg_url, schema, broker) as cloud,
        open_box(tmp_path / "box", cloud, broker) as box,
    ):
        await claimed(box, cloud)
        stranger = await cloud.user()
        base = f"/api/v1/devices/{box.device_id}"
        for method, path in (
            ("GET", f"{base}/synced"),
            ("PATCH", f"{base}/synced"),
            ("GET", f"{base}/telemetry"),
            ("GET", "/api/v1/devices/no-such-box/synced"),
        ):
            body = {"state": {"brightness": 1}} if method == "PATCH" else None
            r = await cloud.http.request(method, path, json=body, headers=stranger)
            assert r.status_code == 404, (method, path, r.text)
            r = await cloud.http.request(method, path, json=body)
            assert r.status_code == 401, (method, path, r.text)
        r = await cloud.http.get("/api/v1/fleet/summary", headers=stranger)
        assert r.json()["devices"] == 0
        await asyncio.sleep(0.3)
        assert box.service.state.brightness != 1


async def test_invalid_cloud_edit_is_refused(
    tmp_path: Path, pg_url: str, schema: str, broker: LocalMosquitto
) -> None:
    async with (
        open_cloud(pg_url, schema, broker) as cloud,
        open_box(tmp_path / "box", cloud, broker) as box,
    ):
        headers = await claimed(box, cloud)
        r = await cloud.http.patch(
            f"/api/v1/devices/{box.device_id}/synced",
            json={"state": {"brightness": 999}},
            headers=headers,
        )
        assert r.status_code == 422, r.text
        assert r.json()["field"] == "state.brightness"


async def test_refused_merge_is_reported_and_does_not_loop(
    tmp_path: Path, pg_url: str, schema: str, broker: LocalMosquitto
) -> None:
    """The cloud deletes a preset that a device playlist (made offline) uses: the LightBox
    refuses the deletion, reports it, and the preset comes back on both sides."""
    async with (
        open_cloud(pg_url, schema, broker) as cloud,
        open_box(tmp_path / "box", cloud, broker) as box,
    ):
        from lightbox.protocol import parse_command

        headers = await claimed(box, cloud)
        save = parse_command(
            {
                "type": "preset.save",
                "preset": {"id": "p", "name": "p", "scene": {"type": "solid"}},
            }
        )
        assert (await box.service.execute(save)).ok
        await eventually(lambda: converged(box, cloud, headers), "the preset to sync")
        await box.cut()
        playlist = parse_command(
            {
                "type": "playlist.save",
                "playlist": {"id": "l", "name": "l", "entries": [{"preset": "p", "duration_s": 5}]},
            }
        )
        assert (await box.service.execute(playlist)).ok
        await cloud.patch(headers, box.device_id, {"presets": {"p": None}})
        await box.connect()
        await eventually(lambda: converged(box, cloud, headers), "convergence")
        assert {p.id for p in box.store.list_presets()} == {"p"}
        assert box.agent.refused >= 1
        refused = box.agent.refused
        await asyncio.sleep(1.0)
        assert box.agent.refused == refused  # no loop
