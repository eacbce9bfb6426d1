"""The Wi-Fi backend of a real LightBox: NetworkManager over the system D-Bus (dbus-fast).

What it uses of NetworkManager's D-Bus API (1.16 or newer; 1.2+ works without
``AddAndActivateConnection2``):

- ``org.freedesktop.NetworkManager``: ``GetDevices``, ``AddAndActivateConnection2`` (or
  ``AddAndActivateConnection``), ``DeactivateConnection``;
- ``...Device`` (``DeviceType`` 2 is Wi-Fi; ``Interface``, ``ActiveConnection``,
  ``Ip4Config``, the ``StateChanged`` signal with its reason) and ``...Device.Wireless``
  (``RequestScan``, ``LastScan``, ``GetAllAccessPoints``, ``ActiveAccessPoint``);
- ``...AccessPoint`` (``Ssid``, ``Strength``, ``Flags``, ``WpaFlags``, ``RsnFlags``);
- ``...Connection.Active`` (``State`` and its ``StateChanged`` signal, ``Ip4Config``) and
  ``...IP4Config`` (``AddressData``);
- ``...Settings`` (``SaveHostname``, ``ListConnections``) and ``...Settings.Connection``
  (``GetSettings``, ``Delete``).

Every D-Bus failure becomes a :class:`WifiError` (chained with ``from``); a network that
refuses us becomes a :class:`WifiConnectError` whose message says why (wrong password, not
in range, no address from DHCP, timeout). The LightBox needs permission to change the
network: run it as root, or grant its user the ``org.freedesktop.NetworkManager.*`` polkit
actions (see docs/provisioning.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from dbus_fast import BusType, DBusError, Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from lightbox.edge.wifi.base import AccessPoint, WifiConnectError, WifiError, WifiStatus

__all__ = ["NetworkManagerWifi", "strength_to_dbm"]

log = logging.getLogger(__name__)

NM = "org.freedesktop.NetworkManager"
NM_PATH = "/org/freedesktop/NetworkManager"
SETTINGS_PATH = "/org/freedesktop/NetworkManager/Settings"
ACTIVE_PREFIX = "/org/freedesktop/NetworkManager/ActiveConnection"
IFACE_DEVICE = f"{NM}.Device"
IFACE_WIRELESS = f"{NM}.Device.Wireless"
IFACE_AP = f"{NM}.AccessPoint"
IFACE_ACTIVE = f"{NM}.Connection.Active"
IFACE_IP4 = f"{NM}.IP4Config"
IFACE_SETTINGS = f"{NM}.Settings"
IFACE_CONNECTION = f"{NM}.Settings.Connection"
PROPERTIES = "org.freedesktop.DBus.Properties"

DEVICE_TYPE_WIFI = 2
DEVICE_STATE_FAILED = 120
AC_ACTIVATING, AC_ACTIVATED, AC_DEACTIVATING, AC_DEACTIVATED = 1, 2, 3, 4
AP_FLAGS_PRIVACY = 0x1
NO_PATH = "/"

# NMDeviceStateReason values that say why joining failed
_WRONG_KEY_DEVICE = {7, 8, 9, 10, 11}  # no secrets, supplicant disconnect/config/failed/timeout
_NO_IP_DEVICE = {5, 15, 16, 17}  # IP config unavailable, DHCP start failed / error / failed
_NOT_FOUND_DEVICE = 53  # SSID not found
# NMActiveConnectionStateReason values
_WRONG_KEY_ACTIVE = {9, 10}  # no secrets, login failed
_TIMEOUT_ACTIVE = 6  # connect timeout
_IP_INVALID_ACTIVE = 5

_ERROR_HINTS = {
    "org.freedesktop.DBus.Error.ServiceUnknown": (
        "NetworkManager is not running; start it (systemctl enable --now NetworkManager)"
    ),
    "org.freedesktop.DBus.Error.NameHasNoOwner": (
        "NetworkManager is not running; start it (systemctl enable --now NetworkManager)"
    ),
    "org.freedesktop.DBus.Error.AccessDenied": (
        "the LightBox may not talk to NetworkManager; run it as root or allow its user "
        "in polkit (org.freedesktop.NetworkManager.*)"
    ),
    f"{NM}.PermissionDenied": (
        "NetworkManager refused: the LightBox's user lacks the polkit permission "
        "(org.freedesktop.NetworkManager.*); run as root or add a polkit rule"
    ),
}

UNKNOWN_METHOD = "org.freedesktop.DBus.Error.UnknownMethod"
UNKNOWN_OBJECT = "org.freedesktop.DBus.Error.UnknownObject"


def strength_to_dbm(strength: int) -> int:
    """NetworkManager's signal quality (0..100 %) as an approximate RSSI in dBm (-100..-50)."""
    strength = max(0, min(100, strength))
    return round(strength / 2) - 100


def _ssid_bytes(ssid: str) -> bytes:
    raw = ssid.encode("utf-8")
    if not 1 <= len(raw) <= 32:
        raise WifiConnectError(f"an SSID is 1 to 32 bytes; {ssid!r} is {len(raw)} bytes")
    return raw


def _check_psk(password: str) -> None:
    if len(password) == 64 and all(c in "0123456789abcdefABCDEF" for c in password):
        return
    if not 8 <= len(password) <= 63:
        raise WifiConnectError(
            "a WPA password has 8 to 63 characters (or is 64 hex digits); "
            f"this one has {len(password)}"
        )


@dataclass
class _Signals:
    """Signals that matched our rules, queued until read."""

    queue: asyncio.Queue[Message] = field(default_factory=asyncio.Queue)


class NetworkManagerWifi:
    """:class:`~lightbox.edge.wifi.WifiBackend` on NetworkManager.

    ``bus``: a connected dbus-fast ``MessageBus`` to use (and not close); None connects to
    the system bus on first use (closed by :meth:`close`). ``interface``: the Wi-Fi device
    to use (``wlan0``); None takes the first Wi-Fi device NetworkManager knows.
    """

    def __init__(
        self,
        bus: MessageBus | None = None,
        interface: str | None = None,
        *,
        scan_timeout: float = 15.0,
        call_timeout: float = 25.0,
    ) -> None:
        self._bus = bus
        self._own_bus = bus is None
        self._interface = interface
        self._scan_timeout = scan_timeout
        self._call_timeout = call_timeout
        self._device: str | None = None
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> NetworkManagerWifi:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Disconnect the bus if this backend opened it."""
        if self._own_bus and self._bus is not None:
            bus, self._bus = self._bus, None
            bus.disconnect()

    # -- D-Bus plumbing ---------------------------------------------------------------
    async def _get_bus(self) -> MessageBus:
        if self._bus is None or not self._bus.connected:
            if not self._own_bus:
                raise WifiError("the D-Bus connection given to the Wi-Fi backend is closed")
            try:
                self._bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
            except (OSError, EOFError, DBusError) as err:
                raise WifiError(
                    f"cannot reach the system D-Bus ({err}); is dbus running, and may the "
                    "LightBox use it?"
                ) from err
        return self._bus

    async def _call(
        self,
        path: str,
        interface: str,
        member: str,
        signature: str = "",
        body: list[Any] | None = None,
        *,
        destination: str = NM,
    ) -> list[Any]:
        """A method call; the reply's body. D-Bus errors raise WifiError (``.__cause__``)."""
        bus = await self._get_bus()
        message = Message(
            destination=destination,
            path=path,
            interface=interface,
            member=member,
            signature=signature,
            body=body or [],
        )
        try:
            reply = await asyncio.wait_for(bus.call(message), self._call_timeout)
        except TimeoutError as err:
            raise WifiError(
                f"NetworkManager did not answer {member} within {self._call_timeout:g} s"
            ) from err
        except (OSError, EOFError, DBusError) as err:
            raise WifiError(f"the D-Bus connection failed during {member}: {err}") from err
        if reply is None:
            raise WifiError(f"no reply to {member} (the D-Bus connection closed)")
        if reply.message_type == MessageType.ERROR:
            text = str(reply.body[0]) if reply.body else ""
            error = DBusError(reply.error_name or "org.freedesktop.DBus.Error.Failed", text, reply)
            hint = _ERROR_HINTS.get(error.type)
            message_text = f"{hint} ({error.text})" if hint else f"{member} failed: {error.text}"
            raise WifiError(message_text) from error
        return list(reply.body)

    async def _get(self, path: str, interface: str, name: str) -> Any:
        (value,) = await self._call(path, PROPERTIES, "Get", "ss", [interface, name])
        return value.value if isinstance(value, Variant) else value

    async def _get_all(self, path: str, interface: str) -> dict[str, Any]:
        (values,) = await self._call(path, PROPERTIES, "GetAll", "s", [interface])
        return {k: v.value if isinstance(v, Variant) else v for k, v in values.items()}

    @contextlib.asynccontextmanager
    async def _subscribe(self, *rules: str) -> Any:
        """Queue the signals that match ``rules`` while the block runs."""
        bus = await self._get_bus()
        signals = _Signals()

        def handler(message: Message) -> None:
            if message.message_type == MessageType.SIGNAL and message.interface in (
                IFACE_ACTIVE,
                IFACE_DEVICE,
            ):
                signals.queue.put_nowait(message)

        bus.add_message_handler(handler)
        added: list[str] = []
        try:
            for rule in rules:
                await self._call(
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus",
                    "AddMatch",
                    "s",
                    [rule],
                    destination="org.freedesktop.DBus",
                )
                added.append(rule)
            yield signals
        finally:
            bus.remove_message_handler(handler)
            for rule in added:
                with contextlib.suppress(WifiError):
                    await self._call(
                        "/org/freedesktop/DBus",
                        "org.freedesktop.DBus",
                        "RemoveMatch",
                        "s",
                        [rule],
                        destination="org.freedesktop.DBus",
                    )

    # -- the device -------------------------------------------------------------------
    async def _wifi_device(self) -> str:
        if self._device is not None:
            return self._device
        (paths,) = await self._call(NM_PATH, NM, "GetDevices")
        names: list[str] = []
        for path in paths:
            props = await self._get_all(path, IFACE_DEVICE)
            if props.get("DeviceType") != DEVICE_TYPE_WIFI:
                continue
            name = str(props.get("Interface", ""))
            names.append(name)
            if self._interface is None or name == self._interface:
                self._device = str(path)
                return self._device
        if self._interface is not None:
            found = ", ".join(names) or "none"
            raise WifiError(f"no Wi-Fi device {self._interface!r} (Wi-Fi devices: {found})")
        raise WifiError(
            "NetworkManager knows no Wi-Fi device; is the adapter present and managed "
            "(nmcli device status)?"
        )

    async def _access_points(self, device: str) -> dict[str, tuple[str, AccessPoint]]:
        """Visible named networks: ssid -> (strongest AP's path, AccessPoint)."""
        try:
            (paths,) = await self._call(device, IFACE_WIRELESS, "GetAllAccessPoints")
        except WifiError as err:
            if not isinstance(err.__cause__, DBusError) or err.__cause__.type != UNKNOWN_METHOD:
                raise
            paths = await self._get(device, IFACE_WIRELESS, "AccessPoints")
        best: dict[str, tuple[str, AccessPoint]] = {}
        for path in paths:
            try:
                props = await self._get_all(path, IFACE_AP)
            except WifiError as err:  # an AP that vanished while we looked
                if isinstance(err.__cause__, DBusError) and err.__cause__.type == UNKNOWN_OBJECT:
                    continue
                raise
            ssid = bytes(props.get("Ssid", b"")).decode("utf-8", errors="replace")
            if not ssid or ssid.strip("\x00") == "":
                continue  # hidden network
            secured = bool(
                int(props.get("Flags", 0)) & AP_FLAGS_PRIVACY
                or int(props.get("WpaFlags", 0))
                or int(props.get("RsnFlags", 0))
            )
            ap = AccessPoint(ssid, strength_to_dbm(int(props.get("Strength", 0))), secured)
            if ssid not in best or ap.rssi > best[ssid][1].rssi:
                best[ssid] = (str(path), ap)
        return best

    # -- WifiBackend ------------------------------------------------------------------
    async def scan(self) -> list[AccessPoint]:
        """Ask for a fresh scan, wait for it (up to ``scan_timeout``), list the networks."""
        async with self._lock:
            device = await self._wifi_device()
            before = await self._get(device, IFACE_WIRELESS, "LastScan")
            try:
                await self._call(device, IFACE_WIRELESS, "RequestScan", "a{sv}", [{}])
            except WifiError as err:
                # NotAllowed: a scan is running or just ran; its results will do
                if not isinstance(err.__cause__, DBusError) or not err.__cause__.type.endswith(
                    ".NotAllowed"
                ):
                    raise
                log.debug("scan not allowed now (%s); using the latest results", err)
            else:
                deadline = time.monotonic() + self._scan_timeout
                while await self._get(device, IFACE_WIRELESS, "LastScan") == before:
                    if time.monotonic() >= deadline:
                        log.warning(
                            "Wi-Fi scan did not finish within %.0f s; listing the last results",
                            self._scan_timeout,
                        )
                        break
                    await asyncio.sleep(0.1)
            found = await self._access_points(device)
        return sorted((ap for _, ap in found.values()), key=lambda ap: (-ap.rssi, ap.ssid))

    async def connect(
        self,
        ssid: str,
        password: str,
        timeout: float = 30.0,  # noqa: ASYNC109 (the WifiBackend signature)
    ) -> WifiStatus:
        """Join ``ssid`` with a saved profile; WifiConnectError says why it failed."""
        raw = _ssid_bytes(ssid)
        if password:
            _check_psk(password)
        async with self._lock:
            device = await self._wifi_device()
            visible = await self._access_points(device)
            ap_path = visible[ssid][0] if ssid in visible else NO_PATH
            wireless: dict[str, Variant] = {
                "ssid": Variant("ay", raw),
                "mode": Variant("s", "infrastructure"),
            }
            if ssid not in visible:
                wireless["hidden"] = Variant("b", True)  # probe for it
            settings: dict[str, dict[str, Variant]] = {
                "connection": {
                    "id": Variant("s", ssid),
                    "type": Variant("s", "802-11-wireless"),
                    "autoconnect": Variant("b", True),
                },
                "802-11-wireless": wireless,
                "ipv4": {"method": Variant("s", "auto")},
                "ipv6": {"method": Variant("s", "auto")},
            }
            if password:
                settings["802-11-wireless-security"] = {
                    "key-mgmt": Variant("s", "wpa-psk"),
                    "psk": Variant("s", password),
                }
            async with self._subscribe(
                f"type='signal',interface='{IFACE_ACTIVE}',member='StateChanged',"
                f"path_namespace='{ACTIVE_PREFIX}'",
                f"type='signal',interface='{IFACE_DEVICE}',member='StateChanged',path='{device}'",
            ) as signals:
                profile, active = await self._add_and_activate(settings, device, ap_path)
                try:
                    status = await self._follow(ssid, device, active, signals, timeout)
                except BaseException:
                    await self._forget(profile, active)
                    raise
            try:  # the new profile replaces older ones for this network
                await self._forget_others(ssid, keep=profile)
            except WifiError as err:
                log.warning("could not delete older Wi-Fi profiles for %r: %s", ssid, err)
            return status

    async def _add_and_activate(
        self, settings: dict[str, dict[str, Variant]], device: str, ap_path: str
    ) -> tuple[str, str]:
        try:
            reply = await self._call(
                NM_PATH,
                NM,
                "AddAndActivateConnection2",
                "a{sa{sv}}ooa{sv}",
                [settings, device, ap_path, {"persist": Variant("s", "disk")}],
            )
        except WifiError as err:
            cause = err.__cause__
            if not isinstance(cause, DBusError) or cause.type != UNKNOWN_METHOD:
                raise _refused(err) from cause
            try:  # NetworkManager before 1.16
                reply = await self._call(
                    NM_PATH,
                    NM,
                    "AddAndActivateConnection",
                    "a{sa{sv}}oo",
                    [settings, device, ap_path],
                )
            except WifiError as old_err:
                raise _refused(old_err) from old_err.__cause__
        return str(reply[0]), str(reply[1])

    async def _follow(
        self, ssid: str, device: str, active: str, signals: _Signals, limit_s: float
    ) -> WifiStatus:
        """Wait until ``active`` is activated (the status) or has failed (raise)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit_s
        device_reason: int | None = None
        active_reason: int | None = None
        try:
            state = int(await self._get(active, IFACE_ACTIVE, "State"))
        except WifiError as err:
            if not isinstance(err.__cause__, DBusError) or err.__cause__.type != UNKNOWN_OBJECT:
                raise
            state = AC_DEACTIVATED  # already gone: it failed before we looked
        while state not in (AC_ACTIVATED, AC_DEACTIVATED):
            left = deadline - loop.time()
            if left <= 0:
                raise WifiConnectError(
                    f"could not join {ssid!r} within {limit_s:g} s (is it in range, and is "
                    "the password right?)"
                )
            try:
                message = await asyncio.wait_for(signals.queue.get(), left)
            except TimeoutError:
                continue
            if message.interface == IFACE_DEVICE and message.path == device:
                new_state, _old, reason = (int(v) for v in message.body)
                if new_state == DEVICE_STATE_FAILED:
                    device_reason = reason
            elif message.interface == IFACE_ACTIVE and message.path == active:
                state, active_reason = int(message.body[0]), int(message.body[1])
        if state == AC_DEACTIVATED:
            # a device failure signal may trail the active connection's
            with contextlib.suppress(TimeoutError):
                while device_reason is None:
                    message = await asyncio.wait_for(signals.queue.get(), 0.2)
                    if message.interface == IFACE_DEVICE and message.path == device:
                        new_state, _old, reason = (int(v) for v in message.body)
                        if new_state == DEVICE_STATE_FAILED:
                            device_reason = reason
            raise WifiConnectError(_failure_text(ssid, device_reason, active_reason))
        ipv4 = await self._ipv4(active, IFACE_ACTIVE)
        return WifiStatus(connected=True, ssid=ssid, ipv4=ipv4)

    async def _forget(self, profile: str, active: str) -> None:
        """Stop a failed activation and delete the profile it made (best effort)."""
        with contextlib.suppress(WifiError):
            await self._call(NM_PATH, NM, "DeactivateConnection", "o", [active])
        try:
            await self._call(profile, IFACE_CONNECTION, "Delete")
        except WifiError as err:
            log.warning("could not delete the failed Wi-Fi profile %s: %s", profile, err)

    async def _ipv4(self, path: str, interface: str) -> str | None:
        config = str(await self._get(path, interface, "Ip4Config"))
        if config == NO_PATH:
            return None
        try:
            data = await self._get(config, IFACE_IP4, "AddressData")
        except WifiError:
            return None
        for entry in data:
            address = entry.get("address")
            if address is not None:
                return str(address.value if isinstance(address, Variant) else address)
        return None

    async def status(self) -> WifiStatus:
        device = await self._wifi_device()
        active = str(await self._get(device, IFACE_DEVICE, "ActiveConnection"))
        if active == NO_PATH:
            return WifiStatus(connected=False)
        try:
            state = int(await self._get(active, IFACE_ACTIVE, "State"))
        except WifiError:
            return WifiStatus(connected=False)
        if state != AC_ACTIVATED:
            return WifiStatus(connected=False)
        ssid: str | None = None
        ap = str(await self._get(device, IFACE_WIRELESS, "ActiveAccessPoint"))
        if ap != NO_PATH:
            with contextlib.suppress(WifiError):
                raw = await self._get(ap, IFACE_AP, "Ssid")
                ssid = bytes(raw).decode("utf-8", errors="replace")
        if ssid is None:
            ssid = str(await self._get(active, IFACE_ACTIVE, "Id"))
        return WifiStatus(connected=True, ssid=ssid, ipv4=await self._ipv4(device, IFACE_DEVICE))

    async def set_hostname(self, hostname: str) -> None:
        await self._call(SETTINGS_PATH, IFACE_SETTINGS, "SaveHostname", "s", [hostname])

    async def _forget_others(self, ssid: str, keep: str) -> int:
        """Delete saved profiles for ``ssid`` other than ``keep``; how many were deleted."""
        deleted = 0
        for path in await self._profiles_for(ssid):
            if path != keep:
                await self._call(path, IFACE_CONNECTION, "Delete")
                deleted += 1
        return deleted

    async def _profiles_for(self, ssid: str) -> list[str]:
        (paths,) = await self._call(SETTINGS_PATH, IFACE_SETTINGS, "ListConnections")
        found = []
        for path in paths:
            (settings,) = await self._call(path, IFACE_CONNECTION, "GetSettings")
            wireless = settings.get("802-11-wireless", {})
            raw = wireless.get("ssid")
            if raw is not None and bytes(raw.value) == ssid.encode("utf-8"):
                found.append(str(path))
        return found


def _refused(err: WifiError) -> WifiError:
    """NetworkManager refused the profile itself (bad key, unknown device...)."""
    cause = err.__cause__
    if isinstance(cause, DBusError) and (
        "InvalidProperty" in cause.type or "InvalidConnection" in cause.type
    ):
        return WifiConnectError(f"NetworkManager refused the network settings: {cause.text}")
    return err


def _failure_text(ssid: str, device_reason: int | None, active_reason: int | None) -> str:
    if device_reason == _NOT_FOUND_DEVICE:
        return f"no network named {ssid!r} is in range"
    if device_reason in _WRONG_KEY_DEVICE or active_reason in _WRONG_KEY_ACTIVE:
        return f"could not join {ssid!r}: the password is wrong (the network refused the key)"
    if device_reason in _NO_IP_DEVICE or active_reason == _IP_INVALID_ACTIVE:
        return f"joined {ssid!r} but got no IP address (DHCP failed)"
    if active_reason == _TIMEOUT_ACTIVE:
        return f"could not join {ssid!r}: NetworkManager timed out"
    return (
        f"could not join {ssid!r} (NetworkManager reason: device {device_reason}, "
        f"connection {active_reason})"
    )
