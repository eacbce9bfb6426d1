"""The hybrid client against a real LightBox registered to a real local cloud.

A user signs up and claims the LightBox; :class:`HybridClient` then works over the LAN,
the LAN is cut mid-session (the port refuses connections, or answers are lost) and the
same calls go through the cloud relay with the same results and the same errors, and the
LAN path is used again once it is back and the cool-down is over.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from lightbox.client import (
    CloudClient,
    CommandRefused,
    ConnectionFailed,
    HybridClient,
    LocalClient,
    NotFound,
    Unauthorized,
)
from tests.client.stack import Stack, cloud_stack, eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def path(box: HybridClient) -> str | None:
    """The box's last path (a call, so that mypy does not keep an earlier narrowing)."""
    return box.path


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with cloud_stack(tmp_path) as s:
        yield s


async def claimed(stack: Stack) -> CloudClient:
    email, password = await stack.user()
    cloud = CloudClient(stack.cloud_url, email=email, password=password, device_id=stack.device_id)
    device = await cloud.claim(await stack.claim_code())
    assert device.device_id == stack.device_id

    async def online() -> bool:
        return (await cloud.device()).online

    await eventually(online, "the device online in the cloud")
    return cloud


async def test_lan_first_cloud_when_cut_lan_again_after_cooldown(stack: Stack) -> None:
    cloud = await claimed(stack)
    local = LocalClient(stack.lan.url, stack.token, connect_timeout_s=0.5)
    clock = Clock()
    async with cloud, local:
        box = HybridClient(local, cloud, discover=False, cooldown_s=30, clock=clock)
        service = stack.runtime.service
        assert service is not None

        info = await box.info()
        assert path(box) == "local" and info.details is not None
        assert info.id == stack.device_id and info.online
        assert box.via == f"via LAN {local.host}"
        result = await box.set(brightness=40, power=True)
        assert path(box) == "local" and result.ok
        assert service.state.brightness == 40
        assert (await box.state()).brightness == 40

        await stack.lan.set("refuse")  # the LAN is gone, mid-session
        result = await box.set(brightness=77)
        assert path(box) == "cloud" and result.ok
        assert service.state.brightness == 77
        assert isinstance(box.last_local_error, ConnectionFailed)
        info = await box.info()
        assert path(box) == "cloud" and info.details is None
        assert info.id == stack.device_id and info.online and info.last_seen_at is not None

        async def cloud_state_follows() -> bool:
            return (await box.state()).brightness == 77

        await eventually(cloud_state_follows, "the state via the cloud")
        assert path(box) == "cloud"

        await stack.lan.set("pass")  # back, but the cool-down is not over: still cloud
        await box.identify()
        assert path(box) == "cloud"
        clock.now += 31
        result = await box.set(brightness=90)
        assert path(box) == "local" and result.ok
        assert service.state.brightness == 90


async def test_same_errors_both_ways(stack: Stack) -> None:
    cloud = await claimed(stack)
    local = LocalClient(stack.lan.url, stack.token, connect_timeout_s=0.5)
    async with cloud, local:
        box = HybridClient(local, cloud, discover=False)
        refused: dict[str, CommandRefused] = {}
        missing: dict[str, CommandRefused] = {}
        for way in ("local", "cloud"):
            if way == "cloud":
                await stack.lan.set("refuse")
            with pytest.raises(CommandRefused) as invalid:
                await box.send({"type": "set", "brightness": 999})
            assert path(box) == way
            refused[way] = invalid.value
            with pytest.raises(CommandRefused) as unknown:
                await box.apply_preset("no-such-preset")
            missing[way] = unknown.value
        for errors in (refused, missing):
            a, b = errors["local"], errors["cloud"]
            assert (a.code, a.field, a.status) == (b.code, b.field, b.status)
            assert a.result.ok is False and not b.result.ok
        assert refused["cloud"].code == "invalid_command"
        assert refused["cloud"].field == "brightness"
        assert missing["cloud"].code == "not_found"
        assert missing["cloud"].result.id is not None  # the device's answer, with its id
        assert stack.runtime.service is not None
        assert stack.runtime.service.state.brightness != 999


async def test_answer_lost_on_the_lan_is_applied_once(stack: Stack) -> None:
    """The LAN takes the command but its answer never comes back: the client resends it
    via the cloud with the same id, and the LightBox applies it once."""
    cloud = await claimed(stack)
    local = LocalClient(stack.lan.url, stack.token, timeout_s=1.0, connect_timeout_s=0.5)
    service = stack.runtime.service
    assert service is not None
    async with cloud, local:
        box = HybridClient(local, cloud, discover=False)
        await box.set(brightness=10)
        before = service.state.version
        await stack.lan.set("swallow")
        result = await box.send({"type": "set", "brightness": 55, "id": "once-55"})
        assert path(box) == "cloud"
        assert result.ok and result.id == "once-55"
        assert service.state.brightness == 55
        assert service.state.version == before + 1  # applied once, not twice
        assert result.version == service.state.version


async def test_errors_that_are_answers_do_not_fall_back(stack: Stack) -> None:
    cloud = await claimed(stack)
    bad_token = LocalClient(stack.lan.url, "lbx_wrong", connect_timeout_s=0.5)
    async with cloud, bad_token:
        box = HybridClient(bad_token, cloud, discover=False)
        with pytest.raises(Unauthorized):
            await box.state()
        assert path(box) == "local"  # the LightBox answered: no detour via the cloud
        other = CloudClient(stack.cloud_url, access_token=cloud.access_token, device_id="nope-1")
        async with other:
            with pytest.raises(NotFound) as err:
                await other.send({"type": "identify"})
        assert err.value.field == "device_id"


async def test_no_cloud_no_lan_is_connection_failed(stack: Stack) -> None:
    local = LocalClient(stack.lan.url, stack.token, connect_timeout_s=0.5)
    async with local:
        box = HybridClient(local, None, discover=False)
        assert (await box.info()).id == stack.device_id
        await stack.lan.set("refuse")
        with pytest.raises(ConnectionFailed) as err:
            await box.info()
        assert err.value.status is None and not err.value.answered


async def test_lan_address_found_by_discovery_and_found_again(stack: Stack) -> None:
    """No address given: mDNS finds the device by its id; when that address stops
    answering, discovery runs again and a new address is used at once."""
    from lightbox.edge.discovery import Found

    cloud = await claimed(stack)
    direct_port = int(stack.lightbox_url.rsplit(":", 1)[1])
    answers = [stack.lan.port]

    async def browse() -> list[Found]:
        port = answers[-1]
        return [
            Found(id="someone-else", name="Other", host="o.local", addresses=["127.0.0.9"]),
            Found(
                id=stack.device_id, name="Box", host="b.local", addresses=["127.0.0.1"], port=port
            ),
        ]

    async with cloud:
        box = HybridClient(
            None, cloud, device_id=stack.device_id, local_token=stack.token, discovery=browse
        )
        async with box:
            await box.set(brightness=33)
            assert path(box) == "local" and box.via == f"via LAN 127.0.0.1:{stack.lan.port}"
            await stack.lan.set("refuse")
            answers.append(direct_port)  # the device moved (a new DHCP lease, say)
            await box.set(brightness=34)
            assert path(box) == "local" and box.via == f"via LAN 127.0.0.1:{direct_port}"
        assert stack.runtime.service is not None
        assert stack.runtime.service.state.brightness == 34
