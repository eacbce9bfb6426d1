"""A fake NetworkManager: the D-Bus objects, properties and signals LightBox uses.

Exported with dbus-fast on a private bus under the real well-known name, object paths and
interface names, so that :class:`NetworkManagerWifi` runs unchanged against it. Networks in
range, their passwords and the activation behaviour are configurable:

- a scan (``RequestScan``) takes ``scan_delay`` s, then publishes the networks in range as
  AccessPoint objects and bumps ``LastScan``;
- activation goes ACTIVATING -> ACTIVATED (with an IP4Config) when the SSID is in range
  and the key matches, else the device fails with NetworkManager's reason (7 no secrets,
  53 SSID not found) and the active connection goes DEACTIVATED (reason 9 or 3), and its
  object disappears; ``hang=True`` leaves it ACTIVATING forever.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from typing import Annotated, Any

from dbus_fast import DBusError, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusSignature
from dbus_fast.service import PropertyAccess, ServiceInterface, dbus_property, method, signal

NM = "org.freedesktop.NetworkManager"
BASE = "/org/freedesktop/NetworkManager"

S = Annotated[str, DBusSignature("s")]
OBJ = Annotated[str, DBusSignature("o")]
U = Annotated[int, DBusSignature("u")]
X = Annotated[int, DBusSignature("x")]
Y = Annotated[int, DBusSignature("y")]
AY = Annotated[bytes, DBusSignature("ay")]
AO = Annotated[list[str], DBusSignature("ao")]
ASV = Annotated[dict[str, Variant], DBusSignature("a{sv}")]
AASV = Annotated[list[dict[str, Variant]], DBusSignature("aa{sv}")]
SETTINGS = Annotated[dict[str, dict[str, Variant]], DBusSignature("a{sa{sv}}")]
OO = Annotated[list[Any], DBusSignature("oo")]
OOASV = Annotated[list[Any], DBusSignature("ooa{sv}")]
UU = Annotated[list[int], DBusSignature("uu")]
UUU = Annotated[list[int], DBusSignature("uuu")]

# NetworkManager's numbers
DEVICE_DISCONNECTED, DEVICE_PREPARE, DEVICE_ACTIVATED, DEVICE_FAILED = 30, 40, 100, 120
AC_ACTIVATING, AC_ACTIVATED, AC_DEACTIVATED = 1, 2, 4
REASON_NO_SECRETS, REASON_SSID_NOT_FOUND = 7, 53
AC_REASON_NONE, AC_REASON_DEVICE_DISCONNECTED, AC_REASON_NO_SECRETS = 1, 3, 9


@dataclass
class Network:
    ssid: str
    strength: int  # %
    password: str | None = None  # None: open
    bssid: str = "00:11:22:33:44:55"


@dataclass
class FakeConfig:
    networks: list[Network] = field(default_factory=list)
    address: str = "192.0.2.50"
    scan_delay: float = 0.05
    activation_delay: float = 0.05
    hang: bool = False
    has_add_and_activate2: bool = True
    scan_not_allowed: bool = False


class AccessPointIface(ServiceInterface):
    def __init__(self, net: Network) -> None:
        super().__init__(f"{NM}.AccessPoint")
        self.net = net

    @dbus_property(access=PropertyAccess.READ)
    def Ssid(self) -> AY:
        return self.net.ssid.encode()

    @dbus_property(access=PropertyAccess.READ)
    def Strength(self) -> Y:
        return self.net.strength

    @dbus_property(access=PropertyAccess.READ)
    def Flags(self) -> U:
        return 1 if self.net.password is not None else 0

    @dbus_property(access=PropertyAccess.READ)
    def WpaFlags(self) -> U:
        return 0

    @dbus_property(access=PropertyAccess.READ)
    def RsnFlags(self) -> U:
        return 0x188 if self.net.password is not None else 0  # pair/group CCMP, key-mgmt PSK

    @dbus_property(access=PropertyAccess.READ)
    def HwAddress(self) -> S:
        return self.net.bssid


class Ip4ConfigIface(ServiceInterface):
    def __init__(self, address: str) -> None:
        super().__init__(f"{NM}.IP4Config")
        self.address = address

    @dbus_property(access=PropertyAccess.READ)
    def AddressData(self) -> AASV:
        return [{"address": Variant("s", self.address), "prefix": Variant("u", 24)}]


class ActiveConnectionIface(ServiceInterface):
    def __init__(self, ssid: str, profile: str) -> None:
        super().__init__(f"{NM}.Connection.Active")
        self.ssid = ssid
        self.profile = profile
        self.state = AC_ACTIVATING
        self.ip4 = "/"

    @dbus_property(access=PropertyAccess.READ)
    def State(self) -> U:
        return self.state

    @dbus_property(access=PropertyAccess.READ)
    def Id(self) -> S:
        return self.ssid

    @dbus_property(access=PropertyAccess.READ)
    def Connection(self) -> OBJ:
        return self.profile

    @dbus_property(access=PropertyAccess.READ)
    def Ip4Config(self) -> OBJ:
        return self.ip4

    @signal()
    def StateChanged(self, state: int, reason: int) -> UU:
        return [state, reason]

    def set_state(self, state: int, reason: int) -> None:
        self.state = state
        self.emit_properties_changed({"State": state})
        self.StateChanged(state, reason)


class ProfileIface(ServiceInterface):
    def __init__(self, fake: FakeNetworkManager, path: str, settings: dict[str, Any]) -> None:
        super().__init__(f"{NM}.Settings.Connection")
        self.fake = fake
        self.path = path
        self.settings = settings

    @method()
    def GetSettings(self) -> SETTINGS:
        # NetworkManager never returns secrets from GetSettings
        return {
            group: {k: v for k, v in values.items() if k != "psk"}
            for group, values in self.settings.items()
        }

    @method()
    def Delete(self):
        self.fake.delete_profile(self.path)


class SettingsIface(ServiceInterface):
    def __init__(self, fake: FakeNetworkManager) -> None:
        super().__init__(f"{NM}.Settings")
        self.fake = fake

    @method()
    def SaveHostname(self, hostname: S):
        if not hostname or len(hostname) > 64:
            raise DBusError(f"{NM}.Settings.InvalidHostname", "The hostname was too long")
        self.fake.hostname = hostname

    @method()
    def ListConnections(self) -> AO:
        return list(self.fake.profiles)

    @dbus_property(access=PropertyAccess.READ)
    def Hostname(self) -> S:
        return self.fake.hostname


class DeviceIface(ServiceInterface):
    def __init__(self, device_type: int, name: str) -> None:
        super().__init__(f"{NM}.Device")
        self.device_type = device_type
        self.ifname = name
        self.state = DEVICE_DISCONNECTED
        self.active = "/"
        self.ip4 = "/"

    @dbus_property(access=PropertyAccess.READ)
    def DeviceType(self) -> U:
        return self.device_type

    @dbus_property(access=PropertyAccess.READ)
    def Interface(self) -> S:
        return self.ifname

    @dbus_property(access=PropertyAccess.READ)
    def State(self) -> U:
        return self.state

    @dbus_property(access=PropertyAccess.READ)
    def ActiveConnection(self) -> OBJ:
        return self.active

    @dbus_property(access=PropertyAccess.READ)
    def Ip4Config(self) -> OBJ:
        return self.ip4

    @signal()
    def StateChanged(self, new: int, old: int, reason: int) -> UUU:
        return [new, old, reason]

    def set_state(self, new: int, reason: int) -> None:
        old, self.state = self.state, new
        self.emit_properties_changed({"State": new})
        self.StateChanged(new, old, reason)


class WirelessIface(ServiceInterface):
    def __init__(self, fake: FakeNetworkManager) -> None:
        super().__init__(f"{NM}.Device.Wireless")
        self.fake = fake
        self.last_scan = -1
        self.active_ap = "/"

    @method()
    async def RequestScan(self, options: ASV):
        self.fake.scan_requests += 1
        if self.fake.config.scan_not_allowed:
            raise DBusError(f"{NM}.Device.NotAllowed", "Scanning not allowed while unavailable")
        self.fake.spawn(self.fake.finish_scan())

    @method()
    def GetAllAccessPoints(self) -> AO:
        return list(self.fake.aps)

    @dbus_property(access=PropertyAccess.READ)
    def AccessPoints(self) -> AO:
        return list(self.fake.aps)

    @dbus_property(access=PropertyAccess.READ)
    def LastScan(self) -> X:
        return self.last_scan

    @dbus_property(access=PropertyAccess.READ)
    def ActiveAccessPoint(self) -> OBJ:
        return self.active_ap


class ManagerIface(ServiceInterface):
    def __init__(self, fake: FakeNetworkManager) -> None:
        super().__init__(NM)
        self.fake = fake

    @method()
    def GetDevices(self) -> AO:
        return [f"{BASE}/Devices/1", f"{BASE}/Devices/2"]

    @method()
    def AddAndActivateConnection(self, connection: SETTINGS, device: OBJ, specific: OBJ) -> OO:
        return self.fake.add_and_activate(connection, device, specific)

    @method()
    def AddAndActivateConnection2(
        self, connection: SETTINGS, device: OBJ, specific: OBJ, options: ASV
    ) -> OOASV:
        if not self.fake.config.has_add_and_activate2:
            raise DBusError(
                "org.freedesktop.DBus.Error.UnknownMethod",
                "No such method 'AddAndActivateConnection2'",
            )
        self.fake.options.append({k: v.value for k, v in options.items()})
        return [*self.fake.add_and_activate(connection, device, specific), {}]

    @method()
    def DeactivateConnection(self, active: OBJ):
        self.fake.deactivate(active)

    @dbus_property(access=PropertyAccess.READ)
    def ActiveConnections(self) -> AO:
        return list(self.fake.actives)


class FakeNetworkManager:
    """Owns the objects; ``await FakeNetworkManager.start(address, config)``."""

    def __init__(self, bus: MessageBus, config: FakeConfig) -> None:
        self.bus = bus
        self.config = config
        self.hostname = "lightbox"
        self.aps: dict[str, AccessPointIface] = {}
        self.profiles: dict[str, ProfileIface] = {}
        self.actives: dict[str, ActiveConnectionIface] = {}
        self.options: list[dict[str, Any]] = []
        self.deleted: list[str] = []
        self.scan_requests = 0
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self.wifi = DeviceIface(2, "wlan0")
        self.wireless = WirelessIface(self)
        self.ethernet = DeviceIface(1, "eth0")
        self.wifi_path = f"{BASE}/Devices/2"

    @classmethod
    async def start(cls, address: str, config: FakeConfig) -> FakeNetworkManager:
        bus = await MessageBus(bus_address=address).connect()
        fake = cls(bus, config)
        bus.export(BASE, ManagerIface(fake))
        bus.export(f"{BASE}/Settings", SettingsIface(fake))
        bus.export(f"{BASE}/Devices/1", fake.ethernet)
        bus.export(fake.wifi_path, fake.wifi)
        bus.export(fake.wifi_path, fake.wireless)
        await bus.request_name(NM)
        return fake

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.bus.disconnect()

    def spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- scanning ---------------------------------------------------------------------
    def publish_aps(self) -> None:
        for path, iface in list(self.aps.items()):
            self.bus.unexport(path, iface)
        self.aps.clear()
        for net in self.config.networks:
            path = f"{BASE}/AccessPoint/{next(self._ids)}"
            iface = AccessPointIface(net)
            self.bus.export(path, iface)
            self.aps[path] = iface

    async def finish_scan(self) -> None:
        await asyncio.sleep(self.config.scan_delay)
        self.publish_aps()
        self.wireless.last_scan = int(time.clock_gettime(time.CLOCK_BOOTTIME) * 1000)
        self.wireless.emit_properties_changed({"LastScan": self.wireless.last_scan})

    # -- activation -------------------------------------------------------------------
    def add_and_activate(
        self, connection: dict[str, dict[str, Variant]], device: str, specific: str
    ) -> list[str]:
        if device != self.wifi_path:
            raise DBusError(f"{NM}.UnknownDevice", f"device {device} is not a Wi-Fi device")
        if specific != "/" and specific not in self.aps:
            raise DBusError(f"{NM}.UnknownConnection", "access point not found")
        security = connection.get("802-11-wireless-security")
        if security is not None:
            psk = str(security["psk"].value)
            if not 8 <= len(psk) <= 64:
                raise DBusError(
                    f"{NM}.Settings.Connection.InvalidProperty",
                    "802-11-wireless-security.psk: property is invalid",
                )
        n = next(self._ids)
        profile_path = f"{BASE}/Settings/{n}"
        profile = ProfileIface(self, profile_path, connection)
        self.bus.export(profile_path, profile)
        self.profiles[profile_path] = profile
        ssid = bytes(connection["802-11-wireless"]["ssid"].value).decode()
        active_path = f"{BASE}/ActiveConnection/{n}"
        active = ActiveConnectionIface(ssid, profile_path)
        self.bus.export(active_path, active)
        self.actives[active_path] = active
        self.wifi.set_state(DEVICE_PREPARE, 0)
        self.spawn(self._activate(active_path, active, connection))
        return [profile_path, active_path]

    async def _activate(
        self, path: str, active: ActiveConnectionIface, connection: dict[str, dict[str, Variant]]
    ) -> None:
        await asyncio.sleep(self.config.activation_delay)
        if self.config.hang:
            return
        net = next((n for n in self.config.networks if n.ssid == active.ssid), None)
        security = connection.get("802-11-wireless-security")
        psk = None if security is None else str(security["psk"].value)
        if net is None:
            self._fail(path, active, REASON_SSID_NOT_FOUND, AC_REASON_DEVICE_DISCONNECTED)
            return
        if net.password != psk:
            self._fail(path, active, REASON_NO_SECRETS, AC_REASON_NO_SECRETS)
            return
        ip_path = f"{BASE}/IP4Config/{next(self._ids)}"
        self.bus.export(ip_path, Ip4ConfigIface(self.config.address))
        active.ip4 = ip_path
        self.wifi.ip4 = ip_path
        self.wifi.active = path
        self.wireless.active_ap = next(
            (p for p, ap in self.aps.items() if ap.net.ssid == net.ssid), "/"
        )
        self.wifi.set_state(DEVICE_ACTIVATED, 0)
        active.set_state(AC_ACTIVATED, AC_REASON_NONE)

    def _fail(self, path: str, active: ActiveConnectionIface, reason: int, ac_reason: int) -> None:
        # as NetworkManager does: the active connection goes first, then the device fails
        active.set_state(AC_DEACTIVATED, ac_reason)
        self.wifi.set_state(DEVICE_FAILED, reason)
        self.wifi.set_state(DEVICE_DISCONNECTED, 0)
        self.bus.unexport(path, active)
        self.actives.pop(path, None)

    def deactivate(self, path: str) -> None:
        active = self.actives.pop(path, None)
        if active is None:
            raise DBusError(f"{NM}.ConnectionNotActive", "The connection was not active.")
        active.set_state(AC_DEACTIVATED, 2)
        self.bus.unexport(path, active)
        if self.wifi.active == path:
            self.wifi.active = "/"
            self.wifi.set_state(DEVICE_DISCONNECTED, 0)

    def delete_profile(self, path: str) -> None:
        profile = self.profiles.pop(path)
        self.bus.unexport(path, profile)
        self.deleted.append(path)

    def profile_settings(self) -> list[dict[str, dict[str, Any]]]:
        """Every saved profile, as plain values."""
        return [
            {g: {k: v.value for k, v in values.items()} for g, values in p.settings.items()}
            for p in self.profiles.values()
        ]
