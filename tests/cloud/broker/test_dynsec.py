"""DynsecAdmin against a real Mosquitto with the dynamic security plugin.

A device may use ``lightbox/<its id>/#`` and nothing else; forbidden publishes are checked
with a real subscriber that sees everything (the cloud service client) and a marker message
sent right after: the marker arrives, the forbidden message never does.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest

from lightbox.cloud.broker import BrokerCommandFailed, BrokerUnavailable, DynsecAdmin
from lightbox.cloud.broker.config import dynsec_document, hash_password
from lightbox.cloud.broker.local import LocalMosquitto, free_port
from lightbox.cloud.interfaces import BrokerAdmin
from tests.cloud.broker.helpers import (
    LIMIT_S,
    client,
    cloud_client,
    connect_refused,
    dynsec_broker,
    recording,
    tag,
)

BAD_CREDENTIALS = {4, 5, 134, 135}  # v3.1.1 CONNACK 4/5, as paho's reason codes 0x86/0x87
SUBACK_FAILURE = {0x80, 0x87}

pytestmark = pytest.mark.integration


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[LocalMosquitto]:
    with dynsec_broker(tmp_path) as b:
        yield b


@pytest.fixture
def admin(broker: LocalMosquitto) -> DynsecAdmin:
    return DynsecAdmin(broker.url, broker.admin_username, broker.admin_password, timeout=LIMIT_S)


def device_client(
    broker: LocalMosquitto, device_id: str, password: str, **kw: object
) -> aiomqtt.Client:
    return client(broker, device_id, password, identifier=f"lightbox-{device_id}", **kw)  # type: ignore[arg-type]


def test_dynsec_admin_is_a_broker_admin(admin: DynsecAdmin) -> None:
    assert isinstance(admin, BrokerAdmin)


def test_password_hash_is_the_plugins() -> None:
    # From `mosquitto_ctrl dynsec init ds.json admin secretpw` (Mosquitto 2.0.11).
    salt = base64.b64decode("neGOtCDV7fKTa2IG")
    fields = hash_password("secretpw", salt=salt)
    assert fields["password"] == (
        "wU/jTI6LLqus0wGCj1Z853cHmsvNIxqHzPXiGQAdgPjZSelmL9Wg3K+J6kzpPL5Yvkjtj9/+ZdxsiYydY+fRzA=="
    )
    assert fields["iterations"] == 101


def test_initial_document_denies_by_default() -> None:
    doc = dynsec_document(
        admin_username="a", admin_password="x", cloud_username="c", cloud_password="y"
    )
    assert set(doc["defaultACLAccess"].values()) == {False, True}
    assert doc["defaultACLAccess"]["publishClientSend"] is False
    assert doc["defaultACLAccess"]["publishClientReceive"] is False
    assert doc["defaultACLAccess"]["subscribe"] is False
    assert [c["username"] for c in doc["clients"]] == ["a", "c"]
    json.dumps(doc)  # serialisable


async def test_device_uses_its_own_topics(broker: LocalMosquitto, admin: DynsecAdmin) -> None:
    device_id = f"dev-{tag()}"
    username, password = await admin.create_device(device_id)
    assert username == device_id
    assert len(password) >= 40
    own = f"lightbox/{device_id}/cmd"
    async with recording(device_client(broker, device_id, password), own) as rec:
        async with asyncio.timeout(LIMIT_S), cloud_client(broker) as cloud:
            await cloud.publish(own, b"from the cloud", qos=1)
        await rec.wait_for(lambda: rec.on(own) == [b"from the cloud"], "the cloud's command")
        # ... and the cloud sees what the device publishes on its own topics
        async with recording(cloud_client(broker), f"lightbox/{device_id}/#") as cloud_rec:
            await rec.client.publish(f"lightbox/{device_id}/cmd/result", b"done", qos=1)
            await cloud_rec.wait_for(
                lambda: cloud_rec.on(f"lightbox/{device_id}/cmd/result") == [b"done"],
                "the device's result",
            )


async def test_device_cannot_touch_another_devices_topics(
    broker: LocalMosquitto, admin: DynsecAdmin
) -> None:
    a, b = f"a-{tag()}", f"b-{tag()}"
    _, password_a = await admin.create_device(a)
    _, password_b = await admin.create_device(b)
    async with (
        recording(cloud_client(broker), "lightbox/#") as everything,
        recording(device_client(broker, b, password_b), f"lightbox/{b}/#") as device_b,
        recording(device_client(broker, a, password_a, v5=True)) as device_a,
    ):
        # subscribing to b's topics, a wildcard over all devices, or anything else: refused
        for topic in (f"lightbox/{b}/cmd", "lightbox/+/cmd", "lightbox/#", "#", "$SYS/#"):
            granted = await device_a.client.subscribe(topic, qos=1, timeout=LIMIT_S)
            codes = {getattr(code, "value", code) for code in granted}
            assert codes <= SUBACK_FAILURE, f"subscribe to {topic!r} was granted: {granted}"
        # publishing on b's topics: never delivered (MQTT 5 PUBACK says not authorised)
        for topic in (f"lightbox/{b}/cmd", f"lightbox/{b}/status", "lightbox/x/cmd", "other"):
            await device_a.client.publish(topic, b"forged", qos=1)
        marker = f"lightbox/{a}/state"
        await device_a.client.publish(marker, b"marker", qos=1)
        await everything.wait_for(lambda: everything.on(marker) == [b"marker"], "the marker")
        # b publishes one message of its own: b's recorder sees it after anything a sent
        await device_b.client.publish(f"lightbox/{b}/info", b"b-marker", qos=1)
        await device_b.wait_for(
            lambda: device_b.on(f"lightbox/{b}/info") == [b"b-marker"], "b's marker"
        )
        forged = [m for m in everything.messages + device_b.messages if m.payload == b"forged"]
        assert forged == []
        # nothing a subscribed to was ever granted, so it received nothing of b's
        await device_b.client.publish(f"lightbox/{b}/cmd", b"for b only", qos=1)
        await everything.wait_for(
            lambda: everything.on(f"lightbox/{b}/cmd") == [b"for b only"], "b's message"
        )
        assert [m.topic.value for m in device_a.messages] == []


async def test_wrong_or_missing_credentials_are_refused(
    broker: LocalMosquitto, admin: DynsecAdmin
) -> None:
    device_id = f"dev-{tag()}"
    _, password = await admin.create_device(device_id)
    assert await connect_refused(device_client(broker, device_id, password + "x")) in (
        BAD_CREDENTIALS
    )
    assert await connect_refused(device_client(broker, "nobody", password)) in BAD_CREDENTIALS
    assert await connect_refused(client(broker, None, None)) in BAD_CREDENTIALS


async def test_device_is_pinned_to_its_client_id(
    broker: LocalMosquitto, admin: DynsecAdmin
) -> None:
    a, b = f"a-{tag()}", f"b-{tag()}"
    _, password_a = await admin.create_device(a)
    await admin.create_device(b)
    # a's credentials cannot take over b's session (that would kick b off)
    rc = await connect_refused(client(broker, a, password_a, identifier=f"lightbox-{b}"))
    assert rc in BAD_CREDENTIALS


async def test_revoked_device_is_kicked_and_refused(
    broker: LocalMosquitto, admin: DynsecAdmin
) -> None:
    device_id = f"dev-{tag()}"
    _, password = await admin.create_device(device_id)
    async with recording(device_client(broker, device_id, password)) as rec:
        await admin.revoke_device(device_id)
        async with asyncio.timeout(LIMIT_S):
            await rec.ended()  # the broker dropped the connection
    assert await connect_refused(device_client(broker, device_id, password)) in BAD_CREDENTIALS
    await admin.revoke_device(device_id)  # idempotent
    await admin.revoke_device(f"never-{tag()}")  # no client: no-op
    # registering again: a new password that works, the old one stays refused
    username, new_password = await admin.create_device(device_id)
    assert username == device_id
    assert new_password != password
    async with asyncio.timeout(LIMIT_S), device_client(broker, device_id, new_password):
        pass
    assert await connect_refused(device_client(broker, device_id, password)) in BAD_CREDENTIALS
    client_info = await admin.get_client(device_id)
    assert client_info is not None
    assert [r["rolename"] for r in client_info["roles"]] == [f"device-{device_id}"]


async def test_rotate_and_delete(broker: LocalMosquitto, admin: DynsecAdmin) -> None:
    device_id = f"dev-{tag()}"
    _, old = await admin.create_device(device_id)
    new = await admin.rotate_password(device_id)
    assert await connect_refused(device_client(broker, device_id, old)) in BAD_CREDENTIALS
    async with asyncio.timeout(LIMIT_S), device_client(broker, device_id, new):
        pass
    await admin.delete_device(device_id)
    assert await admin.get_client(device_id) is None
    assert await connect_refused(device_client(broker, device_id, new)) in BAD_CREDENTIALS
    await admin.delete_device(device_id)  # no-op


async def test_plugin_errors_become_broker_admin_errors(admin: DynsecAdmin) -> None:
    with pytest.raises(BrokerCommandFailed) as caught:
        await admin.rotate_password(f"never-{tag()}")
    assert caught.value.command == "setClientPassword"
    assert caught.value.reason == "Client not found"
    with pytest.raises(ValueError, match="device id"):
        await admin.create_device("no/slashes")


async def test_unreachable_or_refused_admin(broker: LocalMosquitto) -> None:
    wrong = DynsecAdmin(broker.url, broker.admin_username, "wrong", timeout=5)
    with pytest.raises(BrokerUnavailable, match="admin credentials"):
        await wrong.create_device(f"dev-{tag()}")
    # the cloud service client may not use the control API: no answer, in time
    cloud = DynsecAdmin(broker.url, broker.cloud_username, broker.cloud_password, timeout=1)
    with pytest.raises(BrokerUnavailable, match="no answer"):
        await cloud.revoke_device("x")
    port = free_port()
    with socket.socket() as blocker:  # nothing listens there
        blocker.bind(("127.0.0.1", port))
        gone = DynsecAdmin(f"mqtt://127.0.0.1:{port}", "a", "b", timeout=2)
        with pytest.raises(BrokerUnavailable):
            await gone.revoke_device("x")


async def test_concurrent_admins_get_their_own_answers(
    broker: LocalMosquitto, admin: DynsecAdmin
) -> None:
    other = DynsecAdmin(broker.admin_url, timeout=LIMIT_S)
    ids = [f"dev-{tag()}" for _ in range(8)]
    results = await asyncio.gather(
        *((admin if i % 2 else other).create_device(d) for i, d in enumerate(ids))
    )
    assert [r[0] for r in results] == ids
    for device_id, (_, password) in zip(ids, results, strict=True):
        async with asyncio.timeout(LIMIT_S), device_client(broker, device_id, password):
            pass
