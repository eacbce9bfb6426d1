"""Edits on both sides while the link is cut, then reconnection: both converge and no
acknowledged edit is lost; duplicated and out-of-order deliveries are harmless."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lightbox.cloud.broker.local import LocalMosquitto
from lightbox.protocol import PresetSaveCommand, SetCommand, parse_command
from tests.sync_transport.harness import Box, Cloud, eventually, open_box, open_cloud, same

pytestmark = pytest.mark.integration


async def claimed(box: Box, cloud: Cloud) -> dict[str, str]:
    headers = await cloud.user()
    await box.connect()
    code = await box.link.claim_code()
    await cloud.claim(headers, code.claim_code)
    return headers


async def converged(box: Box, cloud: Cloud, headers: dict[str, str]) -> bool:
    got = await cloud.synced(headers, box.device_id)
    return got["last_sync_at"] is not None and not same(box.view(), got["view"])


def preset(pid: str, color: str) -> Any:
    return parse_command(
        {
            "type": "preset.save",
            "preset": {"id": pid, "name": pid, "scene": {"type": "solid", "color": color}},
        }
    )


async def test_edits_on_both_sides_while_cut_converge(
    tmp_path: Path, pg_url: str, schema: str, broker: LocalMosquitto
) -> None:
    async with (
        open_cloud(pg_url, schema, broker) as cloud,
        open_box(tmp_path / "box", cloud, broker) as box,
    ):
        headers = await claimed(box, cloud)
        await eventually(lambda: converged(box, cloud, headers), "the first sync")

        await box.cut()
        # the device, offline: dims, switches off, saves a preset
        assert (await box.service.execute(SetCommand(brightness=10))).ok
        assert (await box.service.execute(SetCommand(power=False))).ok
        save = preset("on-device", "#ff0000")
        assert isinstance(save, PresetSaveCommand)
        assert (await box.service.execute(save)).ok
        # the owner, in the cloud, later: brightness (wins), a name, a preset
        await cloud.patch(
            headers,
            box.device_id,
            {
                "state": {"brightness": 200},
                "settings": {"name": "From the cloud"},
                "presets": {
                    "in-cloud": {
                        "id": "in-cloud",
                        "name": "in-cloud",
                        "scene": {"type": "solid", "color": "#00ff00"},
                    }
                },
            },
        )
        await box.connect()
        await eventually(lambda: converged(box, cloud, headers), "convergence after the cut")

        state = box.service.state
        assert state.brightness == 200  # the later edit
        assert state.power is False  # the device's edit, untouched by the cloud
        assert box.service.settings.name == "From the cloud"
        assert {p.id for p in box.store.list_presets()} == {"on-device", "in-cloud"}
        got = await cloud.synced(headers, box.device_id)
        assert got["view"]["state"]["power"] is False
        assert set(got["view"]["presets"]) == {"on-device", "in-cloud"}
        assert box.agent.refused == 0
