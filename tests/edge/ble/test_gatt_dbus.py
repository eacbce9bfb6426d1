"""The GATT object tree and advertisement as BlueZ sees them, over a private bus."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from lightbox.edge.ble import BleError, GattServer, improv
from lightbox.edge.ble.gatt import ADVERTISEMENT_PATH, APP_PATH, AUTH_SERVICE_UUID
from lightbox.edge.ble.improv import State
from lightbox.edge.ble.provisioner import DeviceInfo, Provisioner
from tests.edge.ble.conftest import SERVER_ADAPTER, PrivateBus
from tests.edge.ble.fakes import FakeWifi, Recorder

pytestmark = pytest.mark.timeout(20)


@pytest.fixture
async def peer(private_bus: PrivateBus) -> AsyncIterator[MessageBus]:
    """A second connection, calling our objects the way bluetoothd does."""
    bus = await MessageBus(bus_address=private_bus.address).connect()
    yield bus
    bus.disconnect()
    await bus.wait_for_disconnect()  # type: ignore[no-untyped-call]


async def call(
    bus: MessageBus,
    destination: str,
    path: str,
    interface: str,
    member: str,
    signature: str = "",
    body: list[Any] | None = None,
) -> list[Any]:
    reply = await bus.call(
        Message(
            destination=destination,
            path=path,
            interface=interface,
            member=member,
            signature=signature,
            body=body or [],
        )
    )
    assert reply is not None
    assert reply.message_type is MessageType.METHOD_RETURN, reply.body
    return list(reply.body)


def provisioner(rec: Recorder) -> Provisioner:
    p = Provisioner(
        wifi=FakeWifi(),
        pairing_code=lambda: "PAIR",
        device=DeviceInfo(version="1", hardware="test"),
        device_name=rec.device_name,
        show_code=rec.show_code,
    )
    p.add_listener(rec)
    return p


async def test_object_tree_reads_writes_and_unregisters(
    private_bus: PrivateBus, peer: MessageBus
) -> None:
    rec = Recorder()
    p = provisioner(rec)
    await p.start()
    server = GattServer(p, adapter=SERVER_ADAPTER[0], bus_address=private_bus.address)
    await server.start()
    owner = (server._bus.unique_name if server._bus else None) or ""
    try:
        (objects,) = await call(
            peer, owner, APP_PATH, "org.freedesktop.DBus.ObjectManager", "GetManagedObjects"
        )
        chars = {
            props["UUID"].value: (path, props["Flags"].value)
            for path, ifaces in objects.items()
            if (props := ifaces.get("org.bluez.GattCharacteristic1"))
        }
        services = {
            ifaces["org.bluez.GattService1"]["UUID"].value
            for ifaces in objects.values()
            if "org.bluez.GattService1" in ifaces
        }
        assert services == {improv.SERVICE_UUID, AUTH_SERVICE_UUID}
        assert chars[improv.STATE_UUID][1] == ["read", "notify"]
        assert chars[improv.RPC_COMMAND_UUID][1] == ["write", "write-without-response"]

        def char(uuid: str) -> str:
            return str(chars[uuid][0])

        gatt = "org.bluez.GattCharacteristic1"
        (caps,) = await call(
            peer, owner, char(improv.CAPABILITIES_UUID), gatt, "ReadValue", "a{sv}", [{}]
        )
        assert caps == b"\x0f"
        # a long read continues at an offset
        (state,) = await call(
            peer,
            owner,
            char(improv.STATE_UUID),
            gatt,
            "ReadValue",
            "a{sv}",
            [{"offset": Variant("q", 1)}],
        )
        assert state == b""
        await call(
            peer,
            owner,
            char(improv.RPC_COMMAND_UUID),
            gatt,
            "WriteValue",
            "aya{sv}",
            [improv.frame(0x03, b""), {"type": Variant("s", "request")}],
        )
        await p.drain()
        (result,) = await call(
            peer, owner, char(improv.RPC_RESULT_UUID), gatt, "ReadValue", "a{sv}", [{}]
        )
        assert result == rec.results[-1]

        # the advertisement follows the state
        def adv_data() -> bytes:
            assert server._advertisement is not None
            return server._advertisement._service_data

        (adv,) = await call(
            peer,
            owner,
            ADVERTISEMENT_PATH,
            "org.freedesktop.DBus.Properties",
            "GetAll",
            "s",
            ["org.bluez.LEAdvertisement1"],
        )
        assert adv["ServiceUUIDs"].value == [improv.SERVICE_UUID]
        assert adv["ServiceData"].value[improv.SERVICE_DATA_UUID].value == b"\x01\x0f\0\0\0\0"
        p.authorize("test")
        assert adv_data()[0] == State.AUTHORIZED
        (adv,) = await call(
            peer,
            owner,
            ADVERTISEMENT_PATH,
            "org.freedesktop.DBus.Properties",
            "GetAll",
            "s",
            ["org.bluez.LEAdvertisement1"],
        )
        assert adv["ServiceData"].value[improv.SERVICE_DATA_UUID].value[0] == State.AUTHORIZED
    finally:
        await server.stop()
        await p.stop()
    # BlueZ (bluezoo) no longer holds the advertisement
    (active,) = await call(
        peer,
        "org.bluez",
        f"/org/bluez/{SERVER_ADAPTER[0]}",
        "org.freedesktop.DBus.Properties",
        "Get",
        "ss",
        ["org.bluez.LEAdvertisingManager1", "ActiveInstances"],
    )
    assert active.value == 0


async def test_missing_adapter_is_a_clear_error(private_bus: PrivateBus) -> None:
    p = provisioner(Recorder())
    server = GattServer(p, adapter="hci7", bus_address=private_bus.address)
    with pytest.raises(BleError, match="no Bluetooth adapter 'hci7'"):
        await server.start()
    assert server._bus is None


async def test_no_bluez_is_a_clear_error(tmp_path: Any) -> None:
    p = provisioner(Recorder())
    server = GattServer(p, bus_address=f"unix:path={tmp_path}/nothing-here")
    with pytest.raises(BleError, match="cannot reach the system D-Bus"):
        await server.start()


def test_missing_tools_skip_on_a_laptop_and_fail_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.edge.ble import conftest

    monkeypatch.setattr("shutil.which", lambda _: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="dbus-daemon"):
        conftest.require_private_bus()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="dbus-daemon"):
        conftest.require_private_bus()
