"""Releases and rollouts through the API, on PostgreSQL + Redis and on SQLite, with a
local release storage: publish and register (verified), cohorts, widening, groups,
halting, reports, and who may do what."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lightbox.cloud.releases.cohort import bucket
from lightbox.release.cli import release_app
from lightbox.release.keys import generate_key, key_id
from tests.cloud.conftest import Backend, Clock, assert_problem
from tests.cloud.releasekit import ReleaseCloud, release_cloud


@pytest.fixture
async def rc(backend: Backend, clock: Clock, tmp_path: Path) -> AsyncIterator[ReleaseCloud]:
    async with release_cloud(backend, clock, tmp_path) as cloud:
        yield cloud


async def test_publish_with_the_cli_then_register(rc: ReleaseCloud) -> None:
    artifact = rc.artifact("1.2.0", channel="beta")
    result = CliRunner().invoke(
        release_app,
        [
            "publish",
            str(artifact),
            "--storage",
            str(rc.work / "storage"),
            "--trust",
            str(rc.trust_dir),
        ],
    )
    assert result.exit_code == 0, result.output
    key = next(line.split()[1] for line in result.output.splitlines() if line.startswith("key "))
    digest = next(
        line.split()[1] for line in result.output.splitlines() if line.startswith("sha256")
    )
    r = await rc.client.post(
        "/api/v1/releases", json={"storage_key": key, "sha256": digest}, headers=rc.admin.headers
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["version"] == "1.2.0"
    assert body["channel"] == "beta"
    assert body["sha256"] == digest
    assert body["size"] == artifact.stat().st_size
    assert body["key_id"] == key_id(rc.key)
    assert body["hardware"] == ["linux-x86_64", "rpi-arm64"]
    again = await rc.client.post(
        "/api/v1/releases", json={"storage_key": key}, headers=rc.admin.headers
    )
    assert_problem(again, 409, "conflict")
    await rc.publish("1.3.0")
    listed = await rc.client.get("/api/v1/releases", headers=rc.admin.headers)
    assert [r["version"] for r in listed.json()] == ["1.3.0", "1.2.0"]
    beta = await rc.client.get("/api/v1/releases?channel=beta", headers=rc.admin.headers)
    assert [r["version"] for r in beta.json()] == ["1.2.0"]


def _tamper(path: Path) -> Path:
    data = bytearray(path.read_bytes())
    at = data.index(b'"version":"') + len(b'"version":"')
    data[at] = ord("9")  # 1.0.0 -> 9.0.0 in the signed manifest
    out = path.with_name("tampered.lbx")
    out.write_bytes(bytes(data))
    return out


async def test_tampered_unsigned_untrusted_and_revoked_artifacts_are_refused(
    rc: ReleaseCloud,
) -> None:
    other = generate_key()
    cases = {
        "bad_signature": _tamper(rc.artifact("1.0.1")),
        "unsigned": rc.artifact("1.0.2", signed=False),
        "untrusted_key": rc.artifact("1.0.3", key=other),
    }
    for reason, path in cases.items():
        key, _ = rc.upload(path)
        r = await rc.client.post(
            "/api/v1/releases", json={"storage_key": key}, headers=rc.admin.headers
        )
        body = assert_problem(r, 422, "invalid_command", "storage_key")
        assert reason in body["detail"], body
    # a revoked key, though its public key is still in the trust directory
    revoked = rc.artifact("1.0.4")
    (rc.trust_dir / "revoked").write_text(key_id(rc.key) + "\n")
    key, _ = rc.upload(revoked)
    r = await rc.client.post(
        "/api/v1/releases", json={"storage_key": key}, headers=rc.admin.headers
    )
    assert "revoked_key" in assert_problem(r, 422, "invalid_command")["detail"]
    (rc.trust_dir / "revoked").unlink()
    # a wrong sha256, and nothing under the key
    r = await rc.client.post(
        "/api/v1/releases",
        json={"storage_key": key, "sha256": "0" * 64},
        headers=rc.admin.headers,
    )
    assert_problem(r, 422, "invalid_command", "sha256")
    r = await rc.client.post(
        "/api/v1/releases", json={"storage_key": "releases/nope.lbx"}, headers=rc.admin.headers
    )
    assert_problem(r, 422, "invalid_command", "storage_key")
    listed = await rc.client.get("/api/v1/releases", headers=rc.admin.headers)
    assert listed.json() == []


async def test_non_admins_cannot_publish_or_roll_out(rc: ReleaseCloud) -> None:
    release = await rc.publish("1.1.0")
    rollout = await rc.rollout(release_id=release["id"], steps=[10, 100])
    user = await rc.api.user()
    key, _ = rc.upload(rc.artifact("1.1.1"))
    calls = [
        ("POST", "/api/v1/releases", {"storage_key": key}),
        ("GET", "/api/v1/releases", None),
        ("POST", "/api/v1/rollouts", {"release_id": release["id"]}),
        ("GET", "/api/v1/rollouts", None),
        ("GET", f"/api/v1/rollouts/{rollout['id']}", None),
        ("POST", f"/api/v1/rollouts/{rollout['id']}/widen", None),
        ("POST", f"/api/v1/rollouts/{rollout['id']}/pause", None),
        ("POST", f"/api/v1/rollouts/{rollout['id']}/resume", None),
        ("POST", "/api/v1/device-groups", {"name": "mine"}),
        ("GET", "/api/v1/device-groups", None),
    ]
    for method, url, body in calls:
        r = await rc.client.request(method, url, json=body, headers=user.headers)
        assert_problem(r, 403, "forbidden")
        r = await rc.client.request(method, url, json=body)
        assert_problem(r, 401, "unauthorized")
    assert (await rc.get_rollout(rollout["id"]))["percentage"] == 10
    listed = await rc.client.get("/api/v1/releases", headers=rc.admin.headers)
    assert [r["version"] for r in listed.json()] == ["1.1.0"]
    # /me says who may: the dashboard offers releases and rollouts to admins only
    assert (await rc.client.get("/api/v1/me", headers=user.headers)).json()["is_admin"] is False
    me = await rc.client.get("/api/v1/me", headers=rc.admin.headers)
    assert me.json()["is_admin"] is True


async def test_a_percentage_rollout_offers_to_a_stable_cohort_and_widens(
    rc: ReleaseCloud,
) -> None:
    # 60 boxes: the odds that none falls in the first 20 % are 0.8^60, about 1e-6 (with
    # 10 % they were 0.9^60, 0.2 %: the test failed once in a few hundred runs)
    boxes = await rc.register(60)
    release = await rc.publish("1.1.0")
    rollout = await rc.rollout(release_id=release["id"], steps=[20, 50, 100])
    rid = rollout["id"]
    assert rollout["percentage"] == 20 and rollout["state"] == "active"

    def cohort(pct: int) -> set[str]:
        return {b.device_id for b in boxes if bucket(rid, b.device_id) < pct}

    first = await rc.offered()
    assert first == cohort(20)
    assert await rc.offered() == first  # stable across calls
    assert {d for d, v in rc.notifier.notified if v == "1.1.0"} == cohort(20)
    offer = await rc.offer(boxes[0]) or await rc.offer(
        next(b for b in boxes if b.device_id in first)
    )
    assert offer is not None
    assert offer["version"] == "1.1.0"
    assert offer["sha256"] == release["sha256"] and offer["size"] == release["size"]
    assert offer["url"].startswith("file://")

    rollout = await rc.act(rid, "widen")
    assert (rollout["percentage"], rollout["step"]) == (50, 1)
    half = await rc.offered()
    assert half == cohort(50) and first <= half
    rollout = await rc.act(rid, "widen")
    assert (rollout["percentage"], rollout["state"]) == (100, "completed")
    assert await rc.offered() == {b.device_id for b in boxes}
    r = await rc.client.post(f"/api/v1/rollouts/{rid}/widen", headers=rc.admin.headers)
    assert_problem(r, 409, "conflict")
    counts = (await rc.get_rollout(rid))["counts"]
    assert counts == {"offered": len(boxes)}
    # not for other hardware, nor for a device already on it, nor on a wrong secret
    box = boxes[0]
    assert await rc.offer(box, hardware="esp32") is None
    assert await rc.offer(box, version="1.1.0") is None
    r = await rc.client.get(
        f"/api/v1/devices/{box.device_id}/update", headers={"Authorization": "Bearer lbs_x"}
    )
    assert_problem(r, 403, "forbidden")


async def test_channels_and_the_newest_release_win(rc: ReleaseCloud) -> None:
    boxes = await rc.register(3)
    stable = await rc.publish("1.1.0")
    beta = await rc.publish("1.2.0b1", channel="beta")
    await rc.rollout(release_id=stable["id"], steps=[100])
    await rc.rollout(release_id=beta["id"], steps=[100])
    offer = await rc.offer(boxes[0])
    assert offer is not None and offer["version"] == "1.1.0"
    offer = await rc.offer(boxes[0], channel="beta")
    assert offer is not None and offer["version"] == "1.2.0b1"


async def test_a_group_rollout_offers_to_its_members_only(rc: ReleaseCloud) -> None:
    boxes = await rc.register(8)
    canaries = boxes[:3]
    r = await rc.client.post(
        "/api/v1/device-groups",
        json={"name": "canary", "devices": [b.device_id for b in canaries]},
        headers=rc.admin.headers,
    )
    assert r.status_code == 201, r.text
    r = await rc.client.post(
        "/api/v1/device-groups", json={"name": "bad", "devices": ["nope"]}, headers=rc.admin.headers
    )
    assert_problem(r, 422, "invalid_command", "devices")
    release = await rc.publish("1.1.0")
    rollout = await rc.rollout(release_id=release["id"], group="canary", steps=[100])
    assert rollout["group"] == "canary" and rollout["channel"] is None
    assert await rc.offered() == {b.device_id for b in canaries}
    r = await rc.client.put(
        "/api/v1/device-groups/canary/members",
        json={"devices": [boxes[5].device_id]},
        headers=rc.admin.headers,
    )
    assert r.json()["devices"] == [boxes[5].device_id]
    # already offered ones keep their offer (they may be half-way); the new member gets one
    assert boxes[5].device_id in await rc.offered()
    r = await rc.client.post(
        "/api/v1/rollouts",
        json={"release_id": release["id"], "group": "nope"},
        headers=rc.admin.headers,
    )
    assert_problem(r, 404, "not_found", "group")


async def test_a_failing_canary_group_halts_the_rollout_and_offers_stop(
    rc: ReleaseCloud,
) -> None:
    boxes = await rc.register(6)
    canaries = boxes[:5]
    await rc.client.post(
        "/api/v1/device-groups",
        json={"name": "canary", "devices": [b.device_id for b in canaries]},
        headers=rc.admin.headers,
    )
    release = await rc.publish("1.1.0")
    rollout = await rc.rollout(
        release_id=release["id"], group="canary", steps=[100], failure_threshold=0.4, min_sample=3
    )
    rid = rollout["id"]
    assert await rc.offered() == {b.device_id for b in canaries}
    for box in canaries[:3]:
        await rc.report(box, "downloading", "1.1.0")
    ack = await rc.report(canaries[0], "committed", "1.1.0")
    assert ack == {"stored": True, "rollout_state": "completed"}
    ack = await rc.report(canaries[1], "rolled_back", "1.1.0", reason="health_check")
    assert ack["rollout_state"] == "completed"  # 1 of 3 failed: 33 % <= 40 %
    ack = await rc.report(canaries[2], "failed", "1.1.0", reason="bad_signature", message="x")
    assert ack["rollout_state"] == "halted"
    state = await rc.get_rollout(rid)
    assert state["state"] == "halted"
    assert "2 of 3 devices failed" in state["halted_reason"]
    assert state["counts"] == {"committed": 1, "rolled_back": 1, "failed": 1, "offered": 2}
    assert await rc.offered() == set()  # a halted rollout offers nothing
    r = await rc.client.post(f"/api/v1/rollouts/{rid}/widen", headers=rc.admin.headers)
    assert_problem(r, 409, "conflict")
    # resumed: judged afresh; not offered again to the committed device nor the one that
    # rolled back; the one that failed once may try again (up to MAX_ATTEMPTS)
    await rc.act(rid, "resume")
    assert await rc.offered() == {b.device_id for b in canaries[2:]}


async def test_reports_repeat_and_order_and_the_owner_view(rc: ReleaseCloud) -> None:
    alice, bob = await rc.api.user(), await rc.api.user()
    reg = await rc.api.owned_device(alice)
    from tests.cloud.releasekit import Box

    box = Box(reg["device_id"], reg["registration_secret"])
    release = await rc.publish("1.1.0")
    await rc.rollout(release_id=release["id"], steps=[100])
    assert await rc.offer(box, version="0.1.0") is not None
    report = {"id": uuid.uuid4().hex, "state": "downloading", "version": "1.1.0"}
    url = f"/api/v1/devices/{box.device_id}/update/status"
    first = await rc.client.post(url, json=report, headers=box.headers)
    assert first.json()["stored"] is True
    again = await rc.client.post(url, json=report, headers=box.headers)
    assert again.json()["stored"] is False  # a repeat from the outbox
    older = {**report, "id": uuid.uuid4().hex, "state": "checking"}
    assert (await rc.client.post(url, json=older, headers=box.headers)).json()["stored"] is False
    await rc.report(box, "failed", "1.1.0", reason="download", message="storage gone")
    r = await rc.client.post(url, json=report, headers={"Authorization": "Bearer lbs_nope"})
    assert_problem(r, 403, "forbidden")
    view = await rc.client.get(
        f"/api/v1/devices/{box.device_id}/update-status", headers=alice.headers
    )
    assert view.status_code == 200, view.text
    body = view.json()
    assert body["updates"][0]["state"] == "failed"
    assert body["updates"][0]["attempts"] == 1
    assert body["updates"][0]["last_error"] == "download: storage gone"
    # tried again, committed: the device's version follows
    await rc.report(box, "downloading", "1.1.0")
    await rc.report(box, "committed", "1.1.0")
    body = (
        await rc.client.get(f"/api/v1/devices/{box.device_id}/update-status", headers=alice.headers)
    ).json()
    assert body["version"] == "1.1.0"
    assert body["updates"][0]["state"] == "committed" and body["updates"][0]["attempts"] == 2
    assert await rc.offer(box, version="1.1.0") is None
    other = await rc.client.get(
        f"/api/v1/devices/{box.device_id}/update-status", headers=bob.headers
    )
    assert_problem(other, 404, "not_found")
