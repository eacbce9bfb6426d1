"""The Improv GATT server and advertisement on BlueZ, over D-Bus (dbus-fast).

No ``from __future__ import annotations`` here: dbus-fast reads the D-Bus signatures from
the annotations at class creation, and a postponed ``-> None`` would read as a signature.

BlueZ owns the radio; we export objects on the system bus and register them:

``/org/lightbox/ble`` (``org.freedesktop.DBus.ObjectManager``, the GATT application)
  ``/service0`` Improv (``00467768-...8000``)
    ``/char0`` capabilities (read)        ``/char1`` current state (read, notify)
    ``/char2`` error state (read, notify) ``/char3`` RPC command (write)
    ``/char4`` RPC result (read, notify)
  ``/service1`` LightBox authorization (:data:`AUTH_SERVICE_UUID`)
    ``/char0`` authorize (read, write): write an empty value to show a code on the
    matrix, then write the code's digits to authorize; read: 0 = no code showing,
    1 = a code is showing, 2 = authorized.
``/org/lightbox/ble/advertisement0`` (``org.bluez.LEAdvertisement1``): the Improv service
  UUID and the 6-byte service data under 0x4677 (state, capabilities), changed in place
  (PropertiesChanged) whenever the state changes.

Both go to the adapter chosen by name (``/org/bluez/hci0``) through
``org.bluez.GattManager1.RegisterApplication`` and
``org.bluez.LEAdvertisingManager1.RegisterAdvertisement``; :meth:`GattServer.stop`
unregisters them and leaves the bus.

Exceptions::

    BleError    BlueZ is missing, the adapter does not exist, or it refused a registration
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from dbus_fast import BusType, DBusError, Message, MessageType, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import (
    DBusBool,
    DBusBytes,
    DBusDict,
    DBusObjectPath,
    DBusSignature,
    DBusStr,
)
from dbus_fast.constants import PropertyAccess
from dbus_fast.service import ServiceInterface, dbus_method, dbus_property

from lightbox.edge.ble import improv
from lightbox.edge.ble.improv import ErrorCode, State
from lightbox.edge.ble.provisioner import Provisioner

log = logging.getLogger(__name__)

BLUEZ = "org.bluez"
APP_PATH = "/org/lightbox/ble"
ADVERTISEMENT_PATH = f"{APP_PATH}/advertisement0"
#: LightBox's own service: authorization by a code shown on the matrix.
AUTH_SERVICE_UUID = "6c696768-7462-6f78-a000-000000000000"
AUTH_CHAR_UUID = "6c696768-7462-6f78-a000-000000000001"

DBusStrList = Annotated[list[str], DBusSignature("as")]

_FAILED = "org.bluez.Error.Failed"
_NOT_PERMITTED = "org.bluez.Error.NotPermitted"
_INVALID_OFFSET = "org.bluez.Error.InvalidOffset"


class BleError(Exception):
    """BLE provisioning cannot run; the message says what to check."""


class _Service(ServiceInterface):
    # Method and property names are BlueZ's (D-Bus CamelCase).

    def __init__(self, path: str, uuid: str) -> None:
        super().__init__("org.bluez.GattService1")
        self.path = path
        self._uuid = uuid

    @dbus_property(access=PropertyAccess.READ)
    def UUID(self) -> DBusStr:
        return self._uuid

    @dbus_property(access=PropertyAccess.READ)
    def Primary(self) -> DBusBool:
        return True


class _Characteristic(ServiceInterface):
    """One characteristic: reads ask ``read()``, writes go to ``write()``."""

    def __init__(
        self,
        path: str,
        uuid: str,
        service: _Service,
        flags: list[str],
        read: Callable[[], bytes] | None = None,
        write: Callable[[bytes], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__("org.bluez.GattCharacteristic1")
        self.path = path
        self._uuid = uuid
        self._service_path = service.path
        self._flags = flags
        self._read = read
        self._write = write
        self._notifying = False

    @dbus_method()
    def ReadValue(self, options: DBusDict) -> DBusBytes:
        if self._read is None:
            raise DBusError(_NOT_PERMITTED, "not readable")
        value = self._read()
        offset = _option(options, "offset", 0)
        if offset > len(value):
            raise DBusError(_INVALID_OFFSET, f"offset {offset} past {len(value)} bytes")
        return value[offset:]

    @dbus_method()
    async def WriteValue(self, value: DBusBytes, options: DBusDict) -> None:
        if self._write is None:
            raise DBusError(_NOT_PERMITTED, "not writable")
        await self._write(bytes(value))

    @dbus_method()
    def StartNotify(self) -> None:
        if "notify" not in self._flags:
            raise DBusError(_NOT_PERMITTED, "no notifications")
        if not self._notifying:
            self._notifying = True
            self.emit_properties_changed({"Notifying": True})

    @dbus_method()
    def StopNotify(self) -> None:
        if self._notifying:
            self._notifying = False
            self.emit_properties_changed({"Notifying": False})

    @dbus_method()
    def Confirm(self) -> None:
        return None

    @dbus_property(access=PropertyAccess.READ)
    def UUID(self) -> DBusStr:
        return self._uuid

    @dbus_property(access=PropertyAccess.READ)
    def Service(self) -> DBusObjectPath:
        return self._service_path

    @dbus_property(access=PropertyAccess.READ)
    def Flags(self) -> DBusStrList:
        return self._flags

    @dbus_property(access=PropertyAccess.READ)
    def Value(self) -> DBusBytes:
        return self._read() if self._read is not None else b""

    @dbus_property(access=PropertyAccess.READ)
    def Notifying(self) -> DBusBool:
        return self._notifying

    def notify(self, value: bytes) -> None:
        """Send ``value`` to subscribed centrals (BlueZ turns PropertiesChanged into it)."""
        self.emit_properties_changed({"Value": value})


class _Advertisement(ServiceInterface):
    def __init__(self, service_data: bytes, on_release: Callable[[], None]) -> None:
        super().__init__("org.bluez.LEAdvertisement1")
        self._service_data = service_data
        self._on_release = on_release

    @dbus_method()
    def Release(self) -> None:
        self._on_release()

    @dbus_property(access=PropertyAccess.READ)
    def Type(self) -> DBusStr:
        return "peripheral"

    @dbus_property(access=PropertyAccess.READ)
    def ServiceUUIDs(self) -> DBusStrList:
        return [improv.SERVICE_UUID]

    @dbus_property(access=PropertyAccess.READ)
    def ServiceData(self) -> DBusDict:
        return {improv.SERVICE_DATA_UUID: Variant("ay", self._service_data)}

    @dbus_property(access=PropertyAccess.READ)
    def Discoverable(self) -> DBusBool:
        return True

    def update(self, service_data: bytes) -> None:
        if service_data != self._service_data:
            self._service_data = service_data
            self.emit_properties_changed(
                {"ServiceData": {improv.SERVICE_DATA_UUID: Variant("ay", service_data)}}
            )


class _NamedAdvertisement(_Advertisement):
    """The advertisement with the LightBox's name (BlueZ puts it in the scan response)."""

    def __init__(self, name: str, service_data: bytes, on_release: Callable[[], None]) -> None:
        super().__init__(service_data, on_release)
        self._name = name

    @dbus_property(access=PropertyAccess.READ)
    def LocalName(self) -> DBusStr:
        return self._name


def _option(options: dict[str, Variant], key: str, default: int) -> int:
    value = options.get(key)
    return int(value.value) if value is not None else default


class GattServer:
    """Exports the Improv GATT application and advertisement for one provisioner."""

    def __init__(
        self,
        provisioner: Provisioner,
        *,
        adapter: str = "hci0",
        name: str = "LightBox",
        bus_address: str | None = None,
    ) -> None:
        self.provisioner = provisioner
        self.adapter = adapter
        self.name = name
        self.bus_address = bus_address
        self._bus: MessageBus | None = None
        self._exported: list[tuple[str, ServiceInterface]] = []
        self._advertisement: _Advertisement | None = None
        self._app_registered = False
        self._adv_registered = False

        improv_service = _Service(f"{APP_PATH}/service0", improv.SERVICE_UUID)
        p = provisioner
        base = improv_service.path
        self._capabilities = _Characteristic(
            f"{base}/char0",
            improv.CAPABILITIES_UUID,
            improv_service,
            ["read"],
            read=lambda: bytes((int(p.capabilities),)),
        )
        self._state = _Characteristic(
            f"{base}/char1",
            improv.STATE_UUID,
            improv_service,
            ["read", "notify"],
            read=lambda: bytes((int(p.state),)),
        )
        self._error = _Characteristic(
            f"{base}/char2",
            improv.ERROR_UUID,
            improv_service,
            ["read", "notify"],
            read=lambda: bytes((int(p.error),)),
        )
        self._rpc_command = _Characteristic(
            f"{base}/char3",
            improv.RPC_COMMAND_UUID,
            improv_service,
            ["write", "write-without-response"],
            write=self._rpc_write,
        )
        self._rpc_result = _Characteristic(
            f"{base}/char4",
            improv.RPC_RESULT_UUID,
            improv_service,
            ["read", "notify"],
            read=lambda: p.last_result,
        )
        auth_service = _Service(f"{APP_PATH}/service1", AUTH_SERVICE_UUID)
        self._auth = _Characteristic(
            f"{auth_service.path}/char0",
            AUTH_CHAR_UUID,
            auth_service,
            ["read", "write"],
            read=self._auth_read,
            write=self._auth_write,
        )
        self._objects: list[tuple[str, ServiceInterface]] = [
            (improv_service.path, improv_service),
            (self._capabilities.path, self._capabilities),
            (self._state.path, self._state),
            (self._error.path, self._error),
            (self._rpc_command.path, self._rpc_command),
            (self._rpc_result.path, self._rpc_result),
            (auth_service.path, auth_service),
            (self._auth.path, self._auth),
        ]

    @property
    def adapter_path(self) -> str:
        return f"/org/bluez/{self.adapter}"

    # -- ProvisionerListener -------------------------------------------------------------

    def state_changed(self, state: State) -> None:
        self._state.notify(bytes((int(state),)))
        if self._advertisement is not None:
            self._advertisement.update(self._service_data())

    def error_changed(self, error: ErrorCode) -> None:
        self._error.notify(bytes((int(error),)))

    def result_ready(self, packet: bytes) -> None:
        self._rpc_result.notify(packet)

    # -- characteristic callbacks ---------------------------------------------------------

    async def _rpc_write(self, value: bytes) -> None:
        self.provisioner.write(value)

    def _auth_read(self) -> bytes:
        p = self.provisioner
        return bytes((2 if p.authorized else 1 if p.code_showing else 0,))

    async def _auth_write(self, value: bytes) -> None:
        if not value.strip(b"\x00"):
            await self.provisioner.request_code()
            return
        try:
            code = value.decode("ascii").strip()
        except UnicodeDecodeError:
            code = ""
        await self.provisioner.confirm_code(code)

    def _service_data(self) -> bytes:
        p = self.provisioner
        return improv.service_data(p.state, p.capabilities)

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        try:
            if self.bus_address is not None:
                bus = await MessageBus(bus_address=self.bus_address).connect()
            else:
                bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
        except (OSError, ValueError) as err:
            raise BleError(f"cannot reach the system D-Bus: {err}") from err
        self._bus = bus
        try:
            await self._check_adapter()
            for path, interface in self._objects:
                bus.export(path, interface)
                self._exported.append((path, interface))
            self.provisioner.add_listener(self)
            await self._call(
                "org.bluez.GattManager1",
                "RegisterApplication",
                "oa{sv}",
                [APP_PATH, {}],
            )
            self._app_registered = True
            await self._register_advertisement()
        except BaseException:
            await self.stop()
            raise
        log.info("Improv BLE service up on %s", self.adapter)

    async def stop(self) -> None:
        bus = self._bus
        if bus is None:
            return
        self.provisioner.remove_listener(self)
        if self._adv_registered:
            self._adv_registered = False
            with contextlib.suppress(BleError, asyncio.TimeoutError):
                await self._call(
                    "org.bluez.LEAdvertisingManager1",
                    "UnregisterAdvertisement",
                    "o",
                    [ADVERTISEMENT_PATH],
                )
        if self._app_registered:
            self._app_registered = False
            with contextlib.suppress(BleError, asyncio.TimeoutError):
                await self._call("org.bluez.GattManager1", "UnregisterApplication", "o", [APP_PATH])
        if self._advertisement is not None:
            bus.unexport(ADVERTISEMENT_PATH, self._advertisement)
            self._advertisement = None
        for path, interface in reversed(self._exported):
            bus.unexport(path, interface)
        self._exported.clear()
        bus.disconnect()
        with contextlib.suppress(Exception):
            await bus.wait_for_disconnect()  # type: ignore[no-untyped-call]
        self._bus = None
        log.info("Improv BLE service down")

    async def _register_advertisement(self) -> None:
        assert self._bus is not None
        # With the name first; if BlueZ finds the data too long, without it (the name is
        # then only in the adapter's alias, read by phones after they connect).
        for named in (True, False):
            adv: _Advertisement = (
                _NamedAdvertisement(self.name, self._service_data(), self._released)
                if named
                else _Advertisement(self._service_data(), self._released)
            )
            self._bus.export(ADVERTISEMENT_PATH, adv)
            self._advertisement = adv
            try:
                await self._call(
                    "org.bluez.LEAdvertisingManager1",
                    "RegisterAdvertisement",
                    "oa{sv}",
                    [ADVERTISEMENT_PATH, {}],
                )
            except BleError:
                self._bus.unexport(ADVERTISEMENT_PATH, adv)
                self._advertisement = None
                if not named:
                    raise
                log.info("advertisement refused with the name; trying without")
                continue
            self._adv_registered = True
            return

    def _released(self) -> None:
        log.warning("BlueZ released the Improv advertisement")
        self._adv_registered = False

    async def _check_adapter(self) -> None:
        try:
            reply = await self._call(
                "org.freedesktop.DBus.Properties",
                "GetAll",
                "s",
                ["org.bluez.Adapter1"],
            )
        except BleError as err:
            raise BleError(
                f"no Bluetooth adapter {self.adapter!r} (is bluetoothd running?): {err}"
            ) from err
        props: dict[str, Variant] = reply[0]
        powered = props.get("Powered")
        if powered is not None and not powered.value:
            log.info("powering on %s", self.adapter)
            await self._call(
                "org.freedesktop.DBus.Properties",
                "Set",
                "ssv",
                ["org.bluez.Adapter1", "Powered", Variant("b", True)],
            )

    async def _call(
        self, interface: str, member: str, signature: str, body: list[Any]
    ) -> list[Any]:
        assert self._bus is not None
        message = Message(
            destination=BLUEZ,
            path=self.adapter_path,
            interface=interface,
            member=member,
            signature=signature,
            body=body,
        )
        reply = await asyncio.wait_for(self._bus.call(message), timeout=10)
        if reply is None:
            raise BleError(f"{interface}.{member}: no reply")
        if reply.message_type is MessageType.ERROR:
            text = reply.body[0] if reply.body else ""
            raise BleError(f"{interface}.{member}: {reply.error_name}: {text}")
        return list(reply.body)
