"""NetworkManagerWifi against a fake NetworkManager on a private D-Bus daemon."""

from __future__ import annotations

import asyncio
import time

import pytest
from dbus_fast import DBusError
from dbus_fast.aio import MessageBus

from lightbox.edge.wifi import AccessPoint, WifiBackend, WifiConnectError, WifiError, WifiStatus
from lightbox.edge.wifi.networkmanager import NetworkManagerWifi, strength_to_dbm
from tests.edge.wifi.fake_nm import FakeConfig, FakeNetworkManager, Network


def test_strength_to_dbm() -> None:
    assert strength_to_dbm(100) == -50
    assert strength_to_dbm(0) == -100
    assert strength_to_dbm(80) == -60
    assert strength_to_dbm(250) == -50


def test_is_a_wifi_backend(client_bus: MessageBus) -> None:
    backend: WifiBackend = NetworkManagerWifi(client_bus)
    assert backend is not None


async def test_scan(fake_nm: FakeNetworkManager, client_bus: MessageBus) -> None:
    wifi = NetworkManagerWifi(client_bus)
    networks = await wifi.scan()
    assert fake_nm.scan_requests == 1
    assert networks == [
        AccessPoint("home", strength_to_dbm(80), secured=True),  # the stronger of two
        AccessPoint("café", strength_to_dbm(55), secured=False),
        AccessPoint("neighbour", strength_to_dbm(20), secured=True),
    ]


async def test_scan_sees_changes(fake_nm: FakeNetworkManager, client_bus: MessageBus) -> None:
    wifi = NetworkManagerWifi(client_bus)
    await wifi.scan()
    fake_nm.config.networks = [Network("new", 99), Network("", 90)]  # "" is a hidden network
    assert await wifi.scan() == [AccessPoint("new", strength_to_dbm(99), secured=False)]


@pytest.mark.parametrize("config", [FakeConfig(scan_not_allowed=True)])
async def test_scan_not_allowed_uses_latest_results(
    fake_nm: FakeNetworkManager, client_bus: MessageBus, config: FakeConfig
) -> None:
    config.networks = [Network("old", 50)]
    fake_nm.publish_aps()
    started = time.monotonic()
    assert await NetworkManagerWifi(client_bus).scan() == [AccessPoint("old", -75, False)]
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("config", [FakeConfig(scan_delay=30)])
async def test_scan_that_never_finishes_lists_what_is_known(
    fake_nm: FakeNetworkManager, client_bus: MessageBus, config: FakeConfig
) -> None:
    config.networks = [Network("old", 50)]
    fake_nm.publish_aps()
    wifi = NetworkManagerWifi(client_bus, scan_timeout=0.3)
    assert await wifi.scan() == [AccessPoint("old", -75, False)]


async def test_connect(fake_nm: FakeNetworkManager, client_bus: MessageBus) -> None:
    wifi = NetworkManagerWifi(client_bus)
    assert await wifi.status() == WifiStatus(connected=False)
    await wifi.scan()
    status = await wifi.connect("home", "correct horse", timeout=5)
    assert status == WifiStatus(connected=True, ssid="home", ipv4="192.0.2.50")
    assert await wifi.status() == status
    (profile,) = fake_nm.profile_settings()
    assert profile["connection"]["type"] == "802-11-wireless"
    assert profile["802-11-wireless"]["ssid"] == b"home"
    assert "hidden" not in profile["802-11-wireless"]
    assert profile["802-11-wireless-security"] == {"key-mgmt": "wpa-psk", "psk": "correct horse"}
    assert fake_nm.options == [{"persist": "disk"}]


async def test_connect_open_network(fake_nm: FakeNetworkManager, client_bus: MessageBus) -> None:
    wifi = NetworkManagerWifi(client_bus)
    await wifi.scan()
    status = await wifi.connect("café", "", timeout=5)
    assert status.connected and status.ssid == "café"
    (profile,) = fake_nm.profile_settings()
    assert "802-11-wireless-security" not in profile


async def test_reconnecting_replaces_the_old_profile(
    fake_nm: FakeNetworkManager, client_bus: MessageBus
) -> None:
    wifi = NetworkManagerWifi(client_bus)
    await wifi.connect("home", "correct horse", timeout=5)
    await wifi.connect("home", "correct horse", timeout=5)
    assert len(fake_nm.profiles) == 1


async def test_wrong_password(fake_nm: FakeNetworkManager, client_bus: MessageBus) -> None:
    wifi = NetworkManagerWifi(client_bus)
    await wifi.scan()
    with pytest.raises(WifiConnectError, match="password is wrong"):
        await wifi.connect("home", "wrong horse", timeout=5)
    assert fake_nm.profiles == {}  # the failed profile is removed
    assert len(fake_nm.deleted) == 1
    assert await wifi.status() == WifiStatus(connected=False)


async def test_unknown_ssid(fake_nm: FakeNetworkManager, client_bus: MessageBus) -> None:
    wifi = NetworkManagerWifi(client_bus)
    await wifi.scan()
    with pytest.raises(WifiConnectError, match="no network named 'elsewhere' is in range"):
        await wifi.connect("elsewhere", "password1", timeout=5)
    assert fake_nm.profiles == {}
    (deleted,) = fake_nm.deleted
    assert deleted.startswith("/org/freedesktop/NetworkManager/Settings/")


async def test_not_yet_scanned_network_is_probed_as_hidden(
    fake_nm: FakeNetworkManager, client_bus: MessageBus
) -> None:
    wifi = NetworkManagerWifi(client_bus)  # no scan: no access points known
    status = await wifi.connect("home", "correct horse", timeout=5)
    assert status.connected
    (profile,) = fake_nm.profile_settings()
    assert profile["802-11-wireless"]["hidden"] is True


@pytest.mark.parametrize("config", [FakeConfig(hang=True)])
async def test_timeout(
    fake_nm: FakeNetworkManager, client_bus: MessageBus, config: FakeConfig
) -> None:
    config.networks = [Network("home", 80, password="correct horse")]
    wifi = NetworkManagerWifi(client_bus)
    started = time.monotonic()
    with pytest.raises(WifiConnectError, match=r"within 0\.5 s"):
        await wifi.connect("home", "correct horse", timeout=0.5)
    assert time.monotonic() - started < 3
    assert fake_nm.profiles == {}
    assert fake_nm.actives == {}  # deactivated


@pytest.mark.parametrize("config", [FakeConfig(has_add_and_activate2=False)])
async def test_older_networkmanager(
    fake_nm: FakeNetworkManager, client_bus: MessageBus, config: FakeConfig
) -> None:
    config.networks = [Network("home", 80, password="correct horse")]
    status = await NetworkManagerWifi(client_bus).connect("home", "correct horse", timeout=5)
    assert status.connected
    assert fake_nm.options == []


@pytest.mark.parametrize(
    ("ssid", "password", "message"),
    [
        ("", "password1", "1 to 32 bytes"),
        ("x" * 33, "password1", "1 to 32 bytes"),
        ("home", "short", "8 to 63 characters"),
        ("home", "p" * 64, "8 to 63 characters"),
    ],
)
async def test_invalid_input_is_refused_before_networkmanager(
    fake_nm: FakeNetworkManager, client_bus: MessageBus, ssid: str, password: str, message: str
) -> None:
    with pytest.raises(WifiConnectError, match=message):
        await NetworkManagerWifi(client_bus).connect(ssid, password, timeout=5)
    assert fake_nm.profiles == {}


async def test_hex_psk_is_accepted(fake_nm: FakeNetworkManager, client_bus: MessageBus) -> None:
    with pytest.raises(WifiConnectError, match="password is wrong"):
        await NetworkManagerWifi(client_bus).connect("home", "ab" * 32, timeout=5)


async def test_set_hostname(fake_nm: FakeNetworkManager, client_bus: MessageBus) -> None:
    wifi = NetworkManagerWifi(client_bus)
    await wifi.set_hostname("kitchen-sign")
    assert fake_nm.hostname == "kitchen-sign"
    with pytest.raises(WifiError, match="too long") as caught:
        await wifi.set_hostname("x" * 70)
    assert isinstance(caught.value.__cause__, DBusError)
    assert caught.value.__cause__.type.endswith("InvalidHostname")


async def test_interface_choice(fake_nm: FakeNetworkManager, client_bus: MessageBus) -> None:
    assert await NetworkManagerWifi(client_bus, interface="wlan0").scan()
    with pytest.raises(WifiError, match=r"no Wi-Fi device 'wlan1' \(Wi-Fi devices: wlan0\)"):
        await NetworkManagerWifi(client_bus, interface="wlan1").scan()
    with pytest.raises(WifiError, match="no Wi-Fi device 'eth0'"):
        await NetworkManagerWifi(client_bus, interface="eth0").scan()


async def test_networkmanager_not_running(client_bus: MessageBus) -> None:
    wifi = NetworkManagerWifi(client_bus)
    with pytest.raises(WifiError, match="NetworkManager is not running") as caught:
        await wifi.scan()
    assert isinstance(caught.value.__cause__, DBusError)


async def test_closed_bus(fake_nm: FakeNetworkManager, bus_address: str) -> None:
    bus = await MessageBus(bus_address=bus_address).connect()
    wifi = NetworkManagerWifi(bus)
    assert await wifi.scan()
    bus.disconnect()
    await asyncio.sleep(0.05)
    with pytest.raises(WifiError, match="closed"):
        await wifi.status()
