"""A fresh LightBox, set up from a phone end to end (issue 4).

Improv provisioning over the mock BLE stack (bluezoo on a private D-Bus) → the fake Wi-Fi
reports connected → the phone pairs with the one-time code from the result URL → a command
over the LAN API succeeds.

The LightBox is assembled as the runtime assembles it: a real store, the service (null
driver), the real FastAPI app on uvicorn (loopback, a free port), ``Pairing(store)`` whose
``issue`` gives the code for the Improv result URL, and ``BleProvisioning`` on bluezoo's
hci0 with a fake Wi-Fi that joins with the address 127.0.0.1, so that the URL the phone gets
is one this test can really use. The phone is py-improv-ble-client (Home Assistant's own
library) on hci1.

Skips with the reason when dbus-daemon, bluezoo, bleak or py-improv-ble-client is missing;
fails instead when ``CI`` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import uvicorn

from lightbox.edge.api import create_app
from lightbox.edge.ble import BleProvisioning
from lightbox.edge.ble.improv import State as ImprovState
from lightbox.edge.media import MediaLibrary
from lightbox.edge.pairing import Pairing
from lightbox.edge.runtime import _QuietServer
from lightbox.edge.service import LightBoxService
from lightbox.edge.store import Store
from lightbox.protocol import IdentifyCommand, MatrixSettings, Settings, State
from lightbox.protocol.settings import NullDriver
from tests.edge.ble.conftest import (
    CLIENT_ADAPTER,
    SERVER_ADAPTER,
    PrivateBus,
    private_bus,  # noqa: F401 - the fixture, used by name
)
from tests.edge.ble.fakes import PASSWORD, FakeButton, FakeWifi

pytestmark = pytest.mark.timeout(60)

CODE_IN_URL = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")


def _require_client_library() -> None:
    """py-improv-ble-client is the phone; the private_bus fixture checks the rest."""
    if importlib.util.find_spec("improv_ble_client") is None:
        reason = "py-improv-ble-client is not installed (pip install py-improv-ble-client)"
        if os.environ.get("CI"):
            pytest.fail(f"the provisioning end-to-end test cannot run in CI: {reason}")
        pytest.skip(reason)


# -- the LightBox -----------------------------------------------------------------------


class FreshLightBox:
    def __init__(self, service: LightBoxService, pairing: Pairing, url: str, port: int) -> None:
        self.service = service
        self.pairing = pairing
        self.url = url
        self.port = port


@contextlib.asynccontextmanager
async def fresh_lightbox(data_dir: Path) -> AsyncIterator[FreshLightBox]:
    """Store, service and API as ``lightbox edge run`` builds them; no token, no code."""
    store = await asyncio.to_thread(Store.open, data_dir / "lightbox.db")
    service = LightBoxService(
        store=store,
        media=MediaLibrary(data_dir / "media", store),
        device_id="lightbox-fresh",
        settings=Settings(
            name="LightBox Hall", driver=NullDriver(), matrix=MatrixSettings(width=16, height=8)
        ),
        state=State(),
        seed=1,
    )
    await service.start()
    server = _QuietServer(  # the runtime's: uvicorn without signal handlers of its own
        uvicorn.Config(
            create_app(service),
            host="127.0.0.1",
            port=0,
            log_config=None,
            access_log=False,
            lifespan="off",
            ws="websockets-sansio",
        )
    )
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                await task
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield FreshLightBox(service, Pairing(store), f"http://127.0.0.1:{port}", port)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        await service.stop()
        await asyncio.to_thread(store.close)


@contextlib.asynccontextmanager
async def improv_on(
    box: FreshLightBox, bus: PrivateBus, wifi: FakeWifi, button: FakeButton
) -> AsyncIterator[BleProvisioning]:
    """BLE provisioning wired to the box as the runtime wires it (runtime._start_ble)."""
    service = box.service

    async def identify() -> None:
        await service.execute(IdentifyCommand(), origin="ble")

    async def set_name(name: str) -> None:
        raise AssertionError(f"the phone renamed the LightBox to {name!r}")

    ble = BleProvisioning(
        wifi=wifi,
        pairing_code=box.pairing.issue,
        version="0.0.0-test",
        device_name=lambda: service.settings.name,
        set_device_name=set_name,
        identify=identify,
        adapter=SERVER_ADAPTER[0],
        button=button,
        http_port=box.port,
        bus_address=bus.address,
        hardware="test",
    )
    await ble.start()
    try:
        yield ble
    finally:
        await ble.stop()


# -- the phone --------------------------------------------------------------------------


async def wait_for(predicate: Callable[[], bool], what: str, within: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"no {what} within {within:g} s")
        await asyncio.sleep(0.02)


async def provision_from_phone(button: FakeButton) -> str:
    """Find the LightBox, authorize it (the button), send the Wi-Fi: the result URL."""
    from bleak import BleakScanner
    from bleak.backends.device import BLEDevice
    from bleak.backends.scanner import AdvertisementData
    from improv_ble_client import ImprovBLEClient, device_filter
    from improv_ble_client import State as ClientState
    from improv_ble_client.models import DisconnectReason

    found: asyncio.Future[tuple[BLEDevice, AdvertisementData]] = (
        asyncio.get_running_loop().create_future()
    )

    def seen(device: BLEDevice, adv: AdvertisementData) -> None:
        if device_filter(adv) and not found.done():
            found.set_result((device, adv))

    scanner = BleakScanner(seen, bluez={"adapter": CLIENT_ADAPTER[0]})
    await scanner.start()
    try:
        device, adv = await asyncio.wait_for(found, 10)
    finally:
        await scanner.stop()
    assert adv.local_name == "LightBox Hall"

    client = ImprovBLEClient(device, adv)
    states: list[object] = []
    try:
        assert await client.need_authorization()
        await client.subscribe_state_updates(states.append)
        button.press()  # the person at the LightBox presses its button
        await wait_for(lambda: ClientState.AUTHORIZED in states, "authorized notification")
        url = await client.provision("home", PASSWORD, states.append)
        await wait_for(lambda: states[-1] is ClientState.PROVISIONED, "provisioned")
        assert ClientState.PROVISIONING in states
    finally:
        # the library would disconnect after 90 s on its own; its own procedure, now
        await client._execute_disconnect(DisconnectReason.TIMEOUT)
    assert url is not None
    return url


def pairing_code_of(url: str, port: int) -> str:
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("http", f"127.0.0.1:{port}", "/"), url
    codes = parse_qs(parts.fragment).get("pair", [])
    assert len(codes) == 1, url
    return codes[0]


# -- the test ---------------------------------------------------------------------------


async def test_fresh_lightbox_provisioned_paired_and_controlled(
    private_bus: PrivateBus,  # noqa: F811 - the imported fixture
    tmp_path: Path,
) -> None:
    _require_client_library()
    wifi, button = FakeWifi(ipv4="127.0.0.1"), FakeButton()
    async with (
        fresh_lightbox(tmp_path) as box,
        improv_on(box, private_bus, wifi, button) as ble,
        httpx.AsyncClient(base_url=box.url, timeout=10) as http,
    ):
        store = box.service.store
        brightness_before = box.service.state.brightness
        brightness = 42 if brightness_before != 42 else 43

        # A fresh LightBox: no token, no pending code, and no control without a token.
        assert store.list_tokens() == []
        assert box.pairing.pending_until() is None
        assert not (await wifi.status()).connected
        command = {"type": "set", "brightness": brightness, "id": "from-the-phone"}
        for headers in ({}, {"Authorization": "Bearer not-a-token"}):
            refused = await http.post("/api/v1/commands", json=command, headers=headers)
            assert refused.status_code == 401, refused.text
            assert refused.json()["code"] == "unauthorized"
        assert (await http.get("/api/v1/state")).status_code == 401
        assert box.service.state.brightness == brightness_before

        # Improv over BLE: authorize with the button, send the Wi-Fi credentials.
        url = await provision_from_phone(button)
        assert wifi.connects == [("home", PASSWORD)]
        status = await wifi.status()
        assert (status.connected, status.ssid, status.ipv4) == (True, "home", "127.0.0.1")
        assert ble.provisioner.state == ImprovState.PROVISIONED
        assert button.closed is False

        code = pairing_code_of(url, box.port)
        assert CODE_IN_URL.match(code), code
        assert url == f"{box.url}/#pair={code}"
        assert box.pairing.pending_until() is not None
        assert store.list_tokens() == []  # the code alone is not a token

        # Pairing: the code from the URL buys a token, once.
        paired = await http.post("/api/v1/pair", json={"code": code, "name": "phone"})
        assert paired.status_code == 201, paired.text
        assert paired.headers["cache-control"] == "no-store"
        token = paired.json()["token"]
        assert isinstance(token, str) and token
        assert [t.name for t in store.list_tokens()] == ["phone"]
        assert box.pairing.pending_until() is None

        # A command over the LAN API, with the token.
        auth = {"Authorization": f"Bearer {token}"}
        done = await http.post("/api/v1/commands", json=command, headers=auth)
        assert done.status_code == 200, done.text
        body = done.json()
        assert (body["id"], body["ok"], body["error"]) == ("from-the-phone", True, None)
        assert box.service.state.brightness == brightness
        shown = await http.get("/api/v1/state", headers=auth)
        assert shown.status_code == 200, shown.text
        assert shown.json()["brightness"] == brightness
        stored = await asyncio.to_thread(store.load_state)
        assert stored is not None and stored.brightness == brightness

        # The code is used up: the same code again buys nothing.
        again = await http.post("/api/v1/pair", json={"code": code, "name": "intruder"})
        assert again.status_code == 401, again.text
        assert again.json()["code"] == "pairing_invalid"
        assert [t.name for t in store.list_tokens()] == ["phone"]
