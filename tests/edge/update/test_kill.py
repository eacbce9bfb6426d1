"""The agent SIGKILLed at each step of download, install and switch: the LightBox always
starts a working version, and the next run finishes the update."""

from __future__ import annotations

import asyncio
import random
import sys
from pathlib import Path

import pytest

from lightbox.edge.update.agent import UpdateState
from lightbox.edge.update.launcher import decide, read_state, slot_ready
from lightbox.release.keys import save_public_key
from tests.edge.update.conftest import Device, Faults, offering, publish
from tests.release.s3servers import S3Server

S = UpdateState
HERE = Path(__file__).parent
KILL_POINTS = [
    "downloading",
    "verifying",
    "installing",
    "mid-installing",
    "switching",
    "restarting",
    "health_check",
    "committed",
]


async def _wait_for_state(device: Device, state: str) -> None:
    async with asyncio.timeout(20):
        while state not in device.states():  # noqa: ASYNC110 - polls a file another process writes
            await asyncio.sleep(0.01)


@pytest.mark.parametrize("point", KILL_POINTS)
async def test_agent_killed_at_each_step_always_leaves_a_working_version(
    device: Device, moto: S3Server, faults: Faults, point: str, tmp_path: Path
) -> None:
    faults.inject()
    published = publish(moto, device.artifact("1.1.0"))
    pub = tmp_path / "trust.pub"
    save_public_key(device.key.public_key(), pub)
    assert device.service.proc is not None
    kill_at = "never" if point == "mid-installing" else point
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(HERE / "agent_proc.py"),
        str(device.root),
        published.offer.model_dump_json(),
        str(pub),
        str(device.service.proc.pid),
        str(device.service.port),
        kill_at,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    if point == "mid-installing":
        await _wait_for_state(device, "installing")
        await asyncio.sleep(random.uniform(0.0, 0.6))
        proc.kill()
    async with asyncio.timeout(60):
        _, err = await proc.communicate()
    assert proc.returncode == -9, err.decode()[-2000:]
    # the device restarts (power cycle / systemd): the launcher picks a slot that works
    slot, _ = decide(read_state(device.root))
    assert slot is not None
    assert slot_ready(device.root, slot)
    await device.service.restart()
    # the agent of whatever version came up finishes or undoes the update
    agent = device.agent(offering(published.offer))
    assert await agent.resume() in (S.IDLE, S.COMMITTED, S.ROLLED_BACK)
    state = read_state(device.root)
    assert state.pending is None
    assert state.active_version in ("1.0.0", "1.1.0")
    await asyncio.to_thread(device.service.wait_version, state.active_version)
    # and the next check completes the update, resuming what was downloaded
    if state.active_version == "1.0.0":
        assert await agent.run_once() is S.COMMITTED
    await asyncio.to_thread(device.service.wait_version, "1.1.0")
    assert read_state(device.root).active_version == "1.1.0"
