"""CloudLink: registration kept across restarts, re-registration after revocation, claim
codes, and a LightBox that keeps working while the cloud is down.

The cloud's HTTP side is a small fake behind ``httpx.MockTransport`` (the real routes are
tested with the cloud app); its broker side is real: our own Mosquitto with dynamic
security, device credentials made by :class:`DynsecAdmin`, and commands sent through the
real relay.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from lightbox.cloud.broker import CloudBroker
from lightbox.cloud.broker.local import LocalMosquitto
from lightbox.cloud.schemas import ClaimCodeOut, MqttCredentials, RegisterRequest, Registration
from lightbox.edge.cloud_link import (
    META_MQTT,
    META_SECRET,
    STOP_GRACE_S,
    CloudLink,
    CloudRefused,
    CloudUnreachable,
)
from lightbox.edge.media import MediaLibrary
from lightbox.edge.service import LightBoxService
from lightbox.edge.store import Store
from lightbox.protocol import SetCommand, Settings, State, parse_command
from lightbox.protocol.settings import NullDriver
from tests.cloud.broker.helpers import LIMIT_S, dynsec_broker, tag

pytestmark = pytest.mark.integration


class FakeCloud:
    """The device-side routes of the cloud API, with the real broker admin behind them."""

    def __init__(self, broker: LocalMosquitto, cloud: CloudBroker) -> None:
        self.broker = broker
        self.cloud = cloud
        self.up = True
        self.secrets: dict[str, str] = {}
        self.requests: list[tuple[str, dict[str, object] | None, str | None]] = []
        self.claims = 0

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if not self.up:
            raise httpx.ConnectError("connection refused", request=request)
        path = request.url.path
        auth = request.headers.get("authorization")
        body = json.loads(request.content) if request.content else None
        self.requests.append((path, body, auth))
        if path == "/api/v1/devices/register":
            req = RegisterRequest.model_validate(body)
            known = self.secrets.get(req.device_id)
            if known is not None and req.registration_secret != known:
                return httpx.Response(403, json={"detail": "wrong registration secret"})
            secret = None if known else secrets.token_urlsafe(16)
            if secret:
                self.secrets[req.device_id] = secret
            username, password = await self.cloud.create_device(req.device_id)
            registration = Registration(
                device_id=req.device_id,
                registration_secret=secret,
                mqtt=MqttCredentials(url=self.broker.url, username=username, password=password),
                claim_code="K7P-2QX",
                claim_expires_at=datetime.now(UTC) + timedelta(minutes=10),
            )
            return httpx.Response(201 if secret else 200, text=registration.model_dump_json())
        if path.endswith("/claim-code"):
            device_id = path.split("/")[-2]
            if auth != f"Bearer {self.secrets.get(device_id)}":
                return httpx.Response(403, json={"detail": "not this device's secret"})
            self.claims += 1
            code = ClaimCodeOut(
                claim_code=f"ABC-{self.claims:03d}",
                claim_expires_at=datetime.now(UTC) + timedelta(minutes=10),
            )
            return httpx.Response(200, text=code.model_dump_json())
        return httpx.Response(404, json={"detail": "no such route"})

    @property
    def registrations(self) -> list[dict[str, object] | None]:
        return [body for path, body, _ in self.requests if path.endswith("/register")]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[LocalMosquitto]:
    with dynsec_broker(tmp_path / "broker") as b:
        yield b


@pytest.fixture
async def cloud(broker: LocalMosquitto) -> AsyncIterator[CloudBroker]:
    instance = CloudBroker(
        broker.url,
        username=broker.cloud_username,
        password=broker.cloud_password,
        admin_username=broker.admin_username,
        admin_password=broker.admin_password,
    )
    await instance.start(wait_connected=LIMIT_S)
    yield instance
    await instance.stop()


@pytest.fixture
def fake(broker: LocalMosquitto, cloud: CloudBroker) -> FakeCloud:
    return FakeCloud(broker, cloud)


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[LightBoxService]:
    store = Store.open(tmp_path / "lightbox.db")
    svc = LightBoxService(
        store=store,
        media=MediaLibrary(tmp_path / "media", store),
        device_id=f"box-{tag()}",
        settings=Settings(driver=NullDriver(), name="Kitchen"),
        state=State(),
        seed=1,
    )
    await svc.start()
    yield svc
    await svc.stop()
    store.close()


def make_link(service: LightBoxService, fake: FakeCloud, **kw: object) -> CloudLink:
    options: dict[str, object] = {
        "retry_min_s": 0.05,
        "retry_max_s": 0.3,
        "probe_after_s": 0.3,
        "check_every_s": 0.05,
        "mqtt_reconnect_max_s": 0.5,
        **kw,
    }
    return CloudLink(
        "https://cloud.test",
        service.store,
        service,
        http=httpx.AsyncClient(transport=fake.transport()),
        **options,  # type: ignore[arg-type]
    )


@contextlib.asynccontextmanager
async def running(link: CloudLink) -> AsyncIterator[CloudLink]:
    task = asyncio.create_task(link.run())
    try:
        yield link
    finally:
        await link.stop(LIMIT_S)
        async with asyncio.timeout(LIMIT_S):
            await task


async def wait_state(link: CloudLink, state: str) -> None:
    try:
        async with asyncio.timeout(LIMIT_S):
            while link.status.state != state:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"cloud link is {link.status}, not {state!r}") from None


async def test_registers_once_and_survives_restarts(
    service: LightBoxService, fake: FakeCloud, cloud: CloudBroker
) -> None:
    device_id = service.device_id
    async with running(make_link(service, fake)) as link:
        await link.wait_connected(LIMIT_S)
        await cloud.presence.wait_for(device_id, True, LIMIT_S)
        assert len(fake.registrations) == 1
        first = fake.registrations[0]
        assert first is not None
        assert first["device_id"] == device_id
        assert first["name"] == "Kitchen"
        assert "registration_secret" not in first
        assert service.store.get_meta(META_SECRET) == fake.secrets[device_id]
        # the cloud controls the LightBox through the same service as the LAN
        result = await cloud.relay.send(device_id, SetCommand(brightness=33), LIMIT_S)
        assert result.ok
        assert service.state.brightness == 33
        # bad input gets the service's own error, over the cloud too
        bad = parse_command({"type": "preset.apply", "preset": "missing"})
        refused = await cloud.relay.send(device_id, bad, LIMIT_S)
        assert not refused.ok
        assert refused.error is not None
        assert refused.error.code == "not_found"
        assert (await link.claim_code()).claim_code == "K7P-2QX"  # from the registration
    await cloud.presence.wait_for(device_id, False, LIMIT_S)  # a clean stop says offline

    # a restart: the stored credentials are used, the cloud is not asked again
    async with running(make_link(service, fake)) as link:
        await link.wait_connected(LIMIT_S)
        await cloud.presence.wait_for(device_id, True, LIMIT_S)
        assert len(fake.registrations) == 1
        assert link.status.state in ("connecting", "online")
        # a state change on the LightBox reaches the cloud's retained state
        result = await cloud.relay.send(device_id, SetCommand(power=False), LIMIT_S)
        assert result.ok
        assert service.state.power is False


async def test_revoked_credentials_lead_to_a_new_registration(
    service: LightBoxService, fake: FakeCloud, cloud: CloudBroker
) -> None:
    device_id = service.device_id
    async with running(make_link(service, fake)) as link:
        await link.wait_connected(LIMIT_S)
        old = service.store.get_meta(META_MQTT)
        await cloud.revoke_device(device_id)  # the broker kicks it and refuses it from now
        async with asyncio.timeout(LIMIT_S):
            while len(fake.registrations) < 2 or not link.connected:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        again = fake.registrations[1]
        assert again is not None
        assert again["registration_secret"] == fake.secrets[device_id]
        assert service.store.get_meta(META_MQTT) != old
        await cloud.presence.wait_for(device_id, True, LIMIT_S)
        result = await cloud.relay.send(device_id, SetCommand(brightness=7), LIMIT_S)
        assert result.ok


async def test_the_lightbox_works_while_the_cloud_is_down(
    service: LightBoxService, fake: FakeCloud
) -> None:
    fake.up = False
    async with running(make_link(service, fake)) as link:
        await wait_state(link, "unreachable")
        assert "cannot reach the cloud" in (link.status.error or "")
        assert not link.status.registered
        result = await service.execute(SetCommand(brightness=99))  # local control goes on
        assert result.ok
        with pytest.raises(CloudUnreachable, match="not registered"):
            await link.claim_code()
        fake.up = True  # the cloud comes back: registered and connected, on its own
        await link.wait_connected(LIMIT_S)
        assert len(fake.registrations) == 1
        assert link.status.registered


async def test_the_lightbox_works_while_the_cloud_broker_is_down(
    service: LightBoxService, fake: FakeCloud, broker: LocalMosquitto
) -> None:
    async with running(make_link(service, fake)) as link:
        await link.wait_connected(LIMIT_S)
        await asyncio.to_thread(broker.stop)
        try:
            await wait_state(link, "unreachable")
            assert "unreachable" in (link.status.error or "")
            assert (await service.execute(SetCommand(power=False))).ok
        finally:
            await asyncio.to_thread(broker.start)
        await link.wait_connected(LIMIT_S)
        assert len(fake.registrations) == 1  # the credentials were fine all along


async def test_stop_is_prompt_while_the_broker_is_down(
    service: LightBoxService, fake: FakeCloud, broker: LocalMosquitto
) -> None:
    link = make_link(service, fake)
    task = asyncio.create_task(link.run())
    await link.wait_connected(LIMIT_S)
    await asyncio.to_thread(broker.stop)
    await wait_state(link, "unreachable")
    started = time.monotonic()
    await link.stop(LIMIT_S)
    async with asyncio.timeout(LIMIT_S):
        await task
    assert time.monotonic() - started < 2 * STOP_GRACE_S + 1


async def test_claim_codes(service: LightBoxService, fake: FakeCloud) -> None:
    async with running(make_link(service, fake)) as link:
        await link.wait_connected(LIMIT_S)
        first = await link.claim_code(fresh=True)
        assert first.claim_code == "ABC-001"
        assert await link.claim_code() == first  # still valid: not fetched again
        _, _, auth = fake.requests[-1]
        assert auth == f"Bearer {fake.secrets[service.device_id]}"
        fake.secrets[service.device_id] = "rotated elsewhere"
        with pytest.raises(CloudRefused) as caught:
            await link.claim_code(fresh=True)
        assert caught.value.status_code == 403
        fake.up = False
        with pytest.raises(CloudUnreachable):
            await link.claim_code(fresh=True)


async def test_a_device_id_known_with_another_secret_is_refused(
    service: LightBoxService, fake: FakeCloud
) -> None:
    fake.secrets[service.device_id] = "someone else's"
    async with running(make_link(service, fake)) as link:
        await wait_state(link, "refused")
        assert "403" in (link.status.error or "")
        assert (await service.execute(SetCommand(brightness=1))).ok
    assert service.store.get_meta(META_SECRET) is None


def test_cloud_url_must_be_http(service: LightBoxService, fake: FakeCloud) -> None:
    with pytest.raises(ValueError, match="https://"):
        CloudLink("cloud.test", service.store, service)
