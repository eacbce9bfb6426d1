"""The cloud with its real broker side: ``CloudServices.open`` with ``mqtt_url`` wires the
dynamic-security admin, presence and the relay (``lightbox.cloud.broker``) into the API.

Against a Mosquitto of the test's own (dynamic security, deny by default), PostgreSQL and
Redis: a LightBox registers, connects with the credentials it got, shows up online, answers
a command sent through the API, and is locked out when its owner revokes its credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiomqtt
import pytest

from lightbox.cloud.broker.dynsec import default_client_id
from lightbox.cloud.broker.local import LocalMosquitto
from lightbox.protocol import CommandResult
from lightbox.protocol.topics import ONLINE, DeviceTopics
from tests.cloud.broker.helpers import LIMIT_S, client, connect_refused, dynsec_broker, settle
from tests.cloud.conftest import Api, Backend, api_for, assert_problem


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[LocalMosquitto]:
    with dynsec_broker(tmp_path / "mosquitto") as b:
        yield b


@pytest.fixture
async def wired(postgres_backend: Backend, broker: LocalMosquitto) -> AsyncIterator[Api]:
    from lightbox.cloud.security import Passwords
    from lightbox.cloud.services import CloudServices

    config = postgres_backend.config(
        mqtt_url=broker.cloud_url,
        mqtt_admin_username=broker.admin_username,
        mqtt_admin_password=broker.admin_password,
        device_mqtt_url=broker.url,
    )
    services = await CloudServices.open(
        config, schema=postgres_backend.schema, passwords=Passwords.fast()
    )
    try:
        async with api_for(services) as api:
            yield api
    finally:
        await services.close()


@contextlib.asynccontextmanager
async def lightbox(
    broker: LocalMosquitto, device_id: str, username: str, password: str
) -> AsyncIterator[aiomqtt.Client]:
    """A LightBox on the cloud broker: online status, answers every command with ok."""
    topics = DeviceTopics(device_id)
    c = client(broker, username, password, identifier=default_client_id(device_id))
    async with asyncio.timeout(LIMIT_S):
        await c.__aenter__()

    async def answer() -> None:
        async for message in c.messages:
            body = json.loads(message.payload if isinstance(message.payload, bytes) else b"{}")
            result = CommandResult(id=body.get("id"), ok=True, version=3)
            await c.publish(topics.result, result.model_dump_json(), qos=1)

    task = asyncio.create_task(answer())
    try:
        await c.subscribe(topics.cmd, qos=1)
        await c.publish(topics.status, ONLINE, qos=1, retain=True)
        yield c
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
            await task
        with contextlib.suppress(Exception):
            await c.__aexit__(None, None, None)
        settle(c)


async def wait_online(api: Api, headers: dict[str, str], online: bool) -> dict[str, object]:
    async with asyncio.timeout(LIMIT_S):
        while True:
            listed = (await api.client.get("/api/v1/devices", headers=headers)).json()
            if listed and listed[0]["online"] is online:
                device: dict[str, object] = listed[0]
                return device
            await asyncio.sleep(0.05)


async def test_register_connect_command_revoke(wired: Api, broker: LocalMosquitto) -> None:
    api = wired
    user = await api.user()
    reg = await api.owned_device(user)
    device_id, mqtt = reg["device_id"], reg["mqtt"]
    assert mqtt["url"] == broker.url
    url = f"/api/v1/devices/{device_id}/commands"
    r = await api.client.post(url, json={"type": "identify"}, headers=user.headers)
    assert_problem(r, 503, "offline")
    async with lightbox(broker, device_id, mqtt["username"], mqtt["password"]):
        device = await wait_online(api, user.headers, True)
        assert device["last_seen_at"]
        r = await api.client.post(url, json={"type": "identify", "id": "c-1"}, headers=user.headers)
        assert r.status_code == 200, r.text
        assert r.json() == {"id": "c-1", "ok": True, "error": None, "version": 3}
        r = await api.client.post(
            f"/api/v1/devices/{device_id}/credentials/revoke", headers=user.headers
        )
        assert r.status_code == 200, r.text
        await wait_online(api, user.headers, False)
    # the old password is refused; registering again with the secret lets it back in
    assert await connect_refused(client(broker, mqtt["username"], mqtt["password"])) != 0
    again = await api.register(device_id, registration_secret=reg["registration_secret"])
    fresh = again["mqtt"]
    async with lightbox(broker, device_id, fresh["username"], fresh["password"]):
        await wait_online(api, user.headers, True)
