"""The update agent end to end: a real S3-compatible server (moto), real venvs and pip,
a real launcher under a systemd stand-in, and the fake LightBox's real /api/v1/info."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from lightbox.edge.update.agent import TRANSITIONS, UpdateAgent, UpdateState
from lightbox.edge.update.errors import InvalidTransition
from lightbox.edge.update.launcher import read_state
from lightbox.release.keys import generate_key, key_id
from tests.edge.update.conftest import Device, Faults, offering, publish
from tests.release.s3servers import S3Server

S = UpdateState


async def test_update_commits_and_reports_every_state(device: Device, moto: S3Server) -> None:
    published = publish(moto, device.artifact("1.1.0"))
    agent = device.agent(offering(published.offer))
    assert await agent.run_once() is S.COMMITTED
    info = device.service.wait_version("1.1.0")
    assert info["slot"] == "b"
    state = read_state(device.root)
    assert (state.active, state.active_version) == ("b", "1.1.0")
    assert (state.previous, state.previous_version) == ("a", "1.0.0")
    assert state.pending is None
    assert state.boot_attempts == 0
    assert device.states() == [
        "checking",
        "downloading",
        "verifying",
        "installing",
        "switching",
        "restarting",
        "health_check",
        "committed",
        "idle",
    ]
    # only after the commit are the downloads deleted; the old slot stays for a manual rollback
    assert list(device.layout.downloads.iterdir()) == []
    assert device.layout.ready("a")
    # a second check with the same offer does nothing
    assert await agent.run_once() is S.IDLE


async def test_no_offer_or_an_older_offer_is_idle(device: Device, moto: S3Server) -> None:
    assert await device.agent(offering(None)).run_once() is S.IDLE
    published = publish(moto, device.artifact("0.9.0"))
    assert await device.agent(offering(published.offer)).run_once() is S.IDLE
    assert device.states() == ["checking", "idle", "checking", "idle"]


@pytest.mark.parametrize("mode", ["crash", "no_broker"])
async def test_a_new_version_failing_its_health_check_is_rolled_back(
    device: Device, moto: S3Server, faults: Faults, mode: str
) -> None:
    """crash: exits 1 at start (the launcher's boot counter falls back after 3 starts);
    no_broker: answers but cannot reach MQTT (the agent's health check fails)."""
    faults.inject()
    published = publish(moto, device.artifact("2.0.0", mode=mode))
    agent = device.agent(offering(published.offer))
    assert await agent.run_once() is S.ROLLED_BACK
    info = device.service.wait_version("1.0.0")
    assert info["slot"] == "a"
    state = read_state(device.root)
    assert (state.active, state.active_version, state.pending) == ("a", "1.0.0", None)
    assert state.last_failure is not None
    assert state.last_failure["version"] == "2.0.0"
    assert state.failure_reported
    reports = device.outbox.pending()
    assert [r["state"] for r in reports][-4:] == [
        "health_check",
        "rolling_back",
        "rolled_back",
        "idle",
    ]
    rolled = reports[-2]
    assert rolled["version"] == "2.0.0"
    assert rolled["reason"] in ("health_check", "boot_failed")
    if mode == "no_broker":
        assert "MQTT" in rolled["message"]
    else:
        assert "supervisor: service exited with 1" in device.service.log.read_text()


def _flip_random_bit(path: Path) -> None:
    data = bytearray(path.read_bytes())
    offset = random.randrange(len(data))
    data[offset] ^= 1 << random.randrange(8)
    path.write_bytes(bytes(data))


BAD = ["unsigned", "wrong_key", "revoked_key", "bit_flip", "truncated", "downgrade", "hardware"]


@pytest.mark.parametrize("kind", BAD)
async def test_a_bad_artifact_is_refused_before_anything_is_written_to_a_slot(
    device: Device, moto: S3Server, faults: Faults, kind: str
) -> None:
    faults.inject()
    artifact = {
        "unsigned": lambda: device.artifact("3.0.0", signed=False),
        "wrong_key": lambda: device.artifact("3.0.0", key=generate_key()),
        "revoked_key": lambda: device.artifact("3.0.0"),
        "bit_flip": lambda: device.artifact("3.0.0"),
        "truncated": lambda: device.artifact("3.0.0"),
        "downgrade": lambda: device.artifact("3.0.0"),
        "hardware": lambda: device.artifact("3.0.0", hardware=["esp32"]),
    }[kind]()
    if kind == "revoked_key":
        device.trust.revoke(key_id(device.key))
    if kind == "bit_flip":
        _flip_random_bit(artifact)
    if kind == "truncated":
        data = artifact.read_bytes()
        artifact.write_bytes(data[: random.randrange(len(data))])
    published = publish(moto, artifact, version="3.0.0")
    before, state_before = device.slot_snapshot(), read_state(device.root)
    agent = device.agent(offering(published.offer))
    if kind == "downgrade":
        # the device already runs 3.0.0 (say, from a manual install): 3.0.0 is no update;
        # the verifier refuses it even though the offer looked newer to the check
        from dataclasses import replace

        device.layout.save(replace(state_before, active_version="3.0.0"))
        published.offer.__dict__["version"] = "3.0.1"
    result = await agent.run_once()
    assert result is S.FAILED
    assert device.slot_snapshot() == before
    assert not (device.root / "slots" / "b").exists()
    after = read_state(device.root)
    assert (after.active, after.pending) == ("a", None)
    failed = [r for r in device.outbox.pending() if r["state"] == "failed"]
    expected = {
        "unsigned": {"unsigned"},
        "wrong_key": {"untrusted_key"},
        "revoked_key": {"revoked_key"},
        "bit_flip": {"corrupt", "bad_signature", "digest_mismatch", "untrusted_key"},
        "truncated": {"truncated"},
        "downgrade": {"downgrade"},
        "hardware": {"wrong_hardware"},
    }[kind]
    assert failed[-1]["reason"] in expected, failed
    assert device.states()[-3:] == ["verifying", "failed", "idle"]
    # refused bytes are not kept, and v1 is still running
    assert not list(device.layout.downloads.glob("*.lbx"))
    device.service.wait_version("1.0.0")


async def test_too_little_free_space_fails_before_downloading(
    device: Device, moto: S3Server, faults: Faults
) -> None:
    faults.inject()
    published = publish(moto, device.artifact("1.1.0"))
    agent = device.agent(offering(published.offer), disk_free=lambda _: published.offer.size * 2)
    assert await agent.run_once() is S.FAILED
    assert device.outbox.pending()[-2]["reason"] == "no_space"
    assert not list(device.layout.downloads.iterdir())


async def test_a_failing_check_is_reported(device: Device) -> None:
    async def check() -> None:
        raise ConnectionError("cloud unreachable")

    assert await device.agent(check).run_once() is S.FAILED
    assert device.outbox.pending()[-2]["reason"] == "check"


def test_the_transition_table_is_complete_and_enforced(device: Device) -> None:
    assert set(TRANSITIONS) == set(UpdateState)
    for state in (S.COMMITTED, S.ROLLED_BACK, S.FAILED):
        assert TRANSITIONS[state] == {S.IDLE}
    # every state but IDLE is reachable
    reachable = set().union(*TRANSITIONS.values())
    assert reachable == set(UpdateState)
    agent: UpdateAgent = device.agent(offering(None))
    with pytest.raises(InvalidTransition):
        agent._enter(S.COMMITTED)
