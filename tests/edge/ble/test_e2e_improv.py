"""Improv provisioning end to end over a mock BLE stack.

The LightBox's GATT server and advertisement run on bluezoo's hci0; Home Assistant's own
client library, py-improv-ble-client (on bleak and bleak-retry-connector), runs on hci1 and
finds the LightBox by its advertisement, exactly as a phone or Home Assistant would.

bluezoo limits (hence one scan and one connection per test, on a fresh bus): a second scan
finds nothing already known, and a reconnection to the same server fails. The reference
client disconnects after any refused command, so each error path has a test of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from lightbox.edge.ble import AUTH_CHAR_UUID, BleProvisioning, improv
from lightbox.edge.ble.improv import State
from tests.edge.ble.conftest import CLIENT_ADAPTER, SERVER_ADAPTER, PrivateBus
from tests.edge.ble.fakes import PASSWORD, FakeWifi, Recorder

bleak = pytest.importorskip("bleak")
improv_ble_client = pytest.importorskip("improv_ble_client")

from bleak import BleakClient, BleakScanner  # noqa: E402
from bleak.backends.device import BLEDevice  # noqa: E402
from bleak.backends.scanner import AdvertisementData  # noqa: E402
from improv_ble_client import (  # noqa: E402
    SERVICE_DATA_UUID,
    Error,
    ImprovBLEClient,
    ImprovServiceData,
    device_filter,
)
from improv_ble_client import State as ClientState  # noqa: E402
from improv_ble_client.errors import ProvisioningFailed  # noqa: E402
from improv_ble_client.models import DisconnectReason  # noqa: E402
from improv_ble_client.protocol import (  # noqa: E402
    CHARACTERISTIC_UUID_ERROR,
    CHARACTERISTIC_UUID_STATE,
    Command,
    UnknownCommand,
)

pytestmark = pytest.mark.timeout(20)


@asynccontextmanager
async def lightbox(
    bus: PrivateBus, wifi: FakeWifi, rec: Recorder, **kwargs: object
) -> AsyncIterator[BleProvisioning]:
    ble = BleProvisioning(
        wifi=wifi,
        pairing_code=lambda: "PAIR-42",
        version="1.2.3",
        device_name=rec.device_name,
        set_device_name=rec.set_device_name,
        identify=rec.identify,
        show_code=rec.show_code,
        adapter=SERVER_ADAPTER[0],
        bus_address=bus.address,
        hardware="Raspberry Pi 4 Model B/aarch64",
        **kwargs,  # type: ignore[arg-type]
    )
    ble.provisioner.add_listener(rec)
    await ble.start()
    try:
        yield ble
    finally:
        await ble.stop()


async def discover(within: float = 10.0) -> tuple[BLEDevice, AdvertisementData]:
    """Scan on the phone's adapter until an Improv device that wants setting up shows."""
    found: asyncio.Future[tuple[BLEDevice, AdvertisementData]] = (
        asyncio.get_running_loop().create_future()
    )

    def seen(device: BLEDevice, adv: AdvertisementData) -> None:
        if device_filter(adv) and not found.done():
            found.set_result((device, adv))

    scanner = BleakScanner(seen, bluez={"adapter": CLIENT_ADAPTER[0]})
    await scanner.start()
    try:
        return await asyncio.wait_for(found, within)
    finally:
        await scanner.stop()


@asynccontextmanager
async def improv_client() -> AsyncIterator[tuple[ImprovBLEClient, AdvertisementData]]:
    device, adv = await discover()
    client = ImprovBLEClient(device, adv)
    try:
        yield client, adv
    finally:
        # The library disconnects on its own after 90 s; do it now (its own procedure).
        await client._execute_disconnect(DisconnectReason.TIMEOUT)


async def wait_for(predicate: Callable[[], bool], what: str) -> None:
    for _ in range(250):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"no {what} within 5 s")


async def read_error_until(client: ImprovBLEClient, expected: Error) -> None:
    seen = None
    for _ in range(250):
        seen = await client.read_characteristic(CHARACTERISTIC_UUID_ERROR)
        if seen == expected:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"error characteristic says {seen!r}, not {expected!r}")


class RawCommand(Command):
    """Bytes exactly as given, for sending broken packets through the client's own path."""

    def __init__(self, raw: bytes) -> None:
        super().__init__([])
        self.raw = raw

    def as_bytes(self) -> bytes:
        return self.raw


async def test_provision_end_to_end(private_bus: PrivateBus) -> None:
    wifi, rec = FakeWifi(), Recorder()
    async with lightbox(private_bus, wifi, rec) as ble, improv_client() as (client, adv):
        data = ImprovServiceData.from_bytes(adv.service_data[SERVICE_DATA_UUID])
        assert data.state is ClientState.AUTHORIZATION_REQUIRED
        assert adv.local_name == "LightBox Kitchen"
        assert await client.need_authorization()
        assert client.can_identify and client.can_get_device_info
        assert client.can_scan_wifi and client.can_set_hostname

        info = await client.get_device_info()
        assert info.firmware_name == b"LightBox"
        assert info.firmware_version == b"1.2.3"
        assert info.device_name == b"LightBox Kitchen"
        scan = await client.scan_wifi()
        assert scan.networks[0] == (b"home", b"-41", b"WPA2")

        states: list[ClientState] = []
        await client.subscribe_state_updates(states.append)
        ble.provisioner.authorize("button")  # the person presses the button
        await wait_for(lambda: ClientState.AUTHORIZED in states, "authorized notification")
        assert not await client.need_authorization()

        url = await client.provision("home", PASSWORD, states.append)
        assert url == "http://192.168.1.50/#pair=PAIR-42"
        assert wifi.connects == [("home", PASSWORD)]
        assert ClientState.PROVISIONING in states
        await wait_for(lambda: states[-1] is ClientState.PROVISIONED, "provisioned")
        # the advertisement now says provisioned: phones stop offering to set it up
        assert ble.server._advertisement is not None
        assert ble.server._advertisement._service_data[0] == State.PROVISIONED


async def test_identify_over_ble(private_bus: PrivateBus) -> None:
    rec = Recorder()
    async with lightbox(private_bus, FakeWifi(), rec), improv_client() as (client, _):
        await client.ensure_connected()  # capabilities are read on connecting
        await client.identify()
        await wait_for(lambda: rec.identified == 1, "identify")


async def test_wrong_password_is_unable_to_connect(private_bus: PrivateBus) -> None:
    wifi, rec = FakeWifi(), Recorder()
    async with lightbox(private_bus, wifi, rec) as ble, improv_client() as (client, _):
        ble.provisioner.authorize("button")
        with pytest.raises(ProvisioningFailed) as caught:
            await client.provision("home", "not the password", None)
        assert caught.value.error is Error.UNABLE_TO_CONNECT
        assert ble.provisioner.state == State.AUTHORIZED


async def test_provision_without_authorization_is_refused(private_bus: PrivateBus) -> None:
    wifi, rec = FakeWifi(), Recorder()
    async with lightbox(private_bus, wifi, rec), improv_client() as (client, _):
        with pytest.raises(ProvisioningFailed) as caught:
            await client.provision("home", PASSWORD, None)
        assert caught.value.error is Error.NOT_AUTHORIZED
        assert wifi.connects == []


async def test_bad_hostname(private_bus: PrivateBus) -> None:
    wifi, rec = FakeWifi(), Recorder()
    async with lightbox(private_bus, wifi, rec) as ble, improv_client() as (client, _):
        ble.provisioner.authorize("button")
        await client.ensure_connected()
        assert await client.set_hostname("kitchen-sign") == "kitchen-sign"
        assert wifi.hostname == "kitchen-sign"
        # a refused host name has no result, only the error: the client would wait for it
        pending = asyncio.create_task(client.set_hostname("not_a_hostname"))
        try:
            await read_error_until(client, Error.BAD_HOSTNAME)
        finally:
            pending.cancel()
            await asyncio.gather(pending, return_exceptions=True)
        assert wifi.hostname == "kitchen-sign"


async def test_invalid_packets_and_unknown_commands(private_bus: PrivateBus) -> None:
    rec = Recorder()
    async with lightbox(private_bus, FakeWifi(), rec), improv_client() as (client, _):
        await client.ensure_connected()
        await client.send_cmd(UnknownCommand(0x42, []))
        await read_error_until(client, Error.UNKNOWN_RPC_COMMAND)
        await client.send_cmd(RawCommand(b"\x02\x00\x00"))  # bad checksum
        await read_error_until(client, Error.INVALID_RPC_PACKET)
        # a command split over two writes (as a client with a small MTU sends it)
        packet = improv.frame(0x02, b"")
        await client.send_cmd(RawCommand(packet[:2]))
        await client.send_cmd(RawCommand(packet[2:]))
        await read_error_until(client, Error.NO_ERROR)
        await wait_for(lambda: rec.identified == 1, "identify from split writes")


async def test_authorize_with_code_on_the_matrix(private_bus: PrivateBus) -> None:
    """The LightBox app's way: ask for a code, type what the matrix shows."""
    rec = Recorder()
    async with lightbox(private_bus, FakeWifi(), rec) as ble:
        device, _ = await discover()
        async with BleakClient(device) as phone:
            assert await phone.read_gatt_char(AUTH_CHAR_UUID) == b"\x00"
            await phone.write_gatt_char(AUTH_CHAR_UUID, b"", response=True)
            await wait_for(lambda: rec.code is not None, "code on the matrix")
            assert await phone.read_gatt_char(AUTH_CHAR_UUID) == b"\x01"
            await phone.write_gatt_char(
                AUTH_CHAR_UUID, b"000000" if rec.code != "000000" else b"1", response=True
            )
            assert ble.provisioner.state == State.AUTHORIZATION_REQUIRED
            code = rec.code
            assert code is not None
            await phone.write_gatt_char(AUTH_CHAR_UUID, code.encode(), response=True)
            state = await phone.read_gatt_char(CHARACTERISTIC_UUID_STATE)
            assert state == bytes((State.AUTHORIZED,))
            assert await phone.read_gatt_char(AUTH_CHAR_UUID) == b"\x02"
            await wait_for(lambda: rec.shown[-1] is None, "code hidden")
