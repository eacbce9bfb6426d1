"""The update agent against the cloud: offers with presigned URLs from a real S3-compatible
server (moto), reports back through the outbox (POST, or the MQTT link's publish), the
notification wake-up, a canary group failing past the threshold (the rollout halts on its
own), and the health check on the service's own counters."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from lightbox.cloud.db import create_engine
from lightbox.cloud.db.migrate import upgrade
from lightbox.cloud.releases import DeviceUpdates, ReleaseContext
from lightbox.edge.store import Store
from lightbox.edge.update.agent import UpdateAgent, UpdateState
from lightbox.edge.update.cloud_check import (
    META_SECRET,
    META_URL,
    CheckFailed,
    CloudUpdates,
    ServiceHealthCheck,
)
from lightbox.edge.update.download import RetryPolicy
from lightbox.edge.update.health import HealthResult
from lightbox.edge.update.outbox import Outbox
from lightbox.edge.update.slots import SlotLayout
from lightbox.protocol.topics import DeviceTopics
from lightbox.release.keys import TrustStore, generate_key
from tests.cloud.conftest import Backend, Clock
from tests.cloud.releasekit import HARDWARE, ReleaseCloud, release_cloud
from tests.edge.update.conftest import Device, Faults
from tests.release.s3servers import S3Server

CLOUD = "http://cloud.test"
S = UpdateState


@pytest.fixture
async def sqlite_backend(tmp_path: Path) -> Backend:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cloud.db'}"
    engine = create_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    return Backend("sqlite", url, redis_prefix=f"lbtest:{uuid.uuid4().hex}:")


@pytest.fixture
def s3_env(moto: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """The cloud's S3 credentials come from boto3's usual chain: the environment here."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", moto.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", moto.secret_key)
    return moto


@contextlib.asynccontextmanager
async def s3_cloud(
    backend: Backend, tmp_path: Path, server: S3Server, **options: Any
) -> AsyncIterator[ReleaseCloud]:
    bucket = server.new_bucket()
    async with release_cloud(
        backend,
        Clock(),
        tmp_path / "cloud",
        storage_url=f"s3://{bucket}",
        s3_endpoint_url=server.endpoint,
        **options,
    ) as cloud:
        yield cloud


def linked_store(path: Path, secret: str) -> Store:
    """A LightBox store holding the cloud registration, as the cloud link leaves it."""
    store = Store.open(path)
    with store.transaction() as tx:
        tx.set_meta(META_URL, CLOUD)
        tx.set_meta(META_SECRET, secret)
    return store


async def test_the_agent_updates_through_a_presigned_url_and_reports_back(
    device: Device, sqlite_backend: Backend, s3_env: S3Server, tmp_path: Path
) -> None:
    async with s3_cloud(sqlite_backend, tmp_path, s3_env, key=device.key) as rc:
        release = await rc.publish("1.1.0")
        rollout = await rc.rollout(release_id=release["id"], steps=[100])
        reg = await rc.api.register(version="1.0.0", hardware=HARDWARE)
        store = linked_store(tmp_path / "lightbox.db", reg["registration_secret"])
        try:
            updates = CloudUpdates(
                CLOUD,
                store,
                reg["device_id"],
                device.outbox,
                hardware=HARDWARE,
                current_version=lambda: device.layout.state().active_version,
                http=rc.client,
            )
            offer = await updates.check()
            assert offer is not None and offer.version == "1.1.0"
            assert offer.url.startswith(s3_env.endpoint) and "X-Amz-Signature" in offer.url
            agent = device.agent(updates.check, report=updates.report)
            assert await agent.run_once() is S.COMMITTED
            device.service.wait_version("1.1.0")
            assert await updates.deliver() >= 8  # checking ... committed, idle
            assert device.outbox.pending() == []
            state = await rc.get_rollout(rollout["id"])
            assert state["counts"] == {"committed": 1}
            assert await updates.check() is None  # on 1.1.0 now: nothing more
        finally:
            store.close()


async def test_a_failing_canary_group_halts_the_rollout(
    sqlite_backend: Backend, s3_env: S3Server, tmp_path: Path, faults: Faults
) -> None:
    """The canaries do not trust the release's key: each refuses it, before any slot write,
    and reports the failure; past the threshold the rollout halts and offers stop."""
    faults.inject()
    async with s3_cloud(sqlite_backend, tmp_path, s3_env) as rc:
        boxes = await rc.register(4)
        r = await rc.client.post(
            "/api/v1/device-groups",
            json={"name": "canary", "devices": [b.device_id for b in boxes]},
            headers=rc.admin.headers,
        )
        assert r.status_code == 201
        release = await rc.publish("1.1.0")
        rollout = await rc.rollout(
            release_id=release["id"],
            group="canary",
            steps=[100],
            failure_threshold=0.5,
            min_sample=3,
        )
        device_trust = TrustStore([generate_key().public_key()])
        ends = []
        for i, box in enumerate(boxes):
            root = tmp_path / f"box{i}"
            store = linked_store(tmp_path / f"box{i}.db", box.secret)
            try:
                updates = CloudUpdates(
                    CLOUD,
                    store,
                    box.device_id,
                    Outbox(root / "outbox.jsonl"),
                    hardware=HARDWARE,
                    current_version=lambda: "1.0.0",
                    http=rc.client,
                )

                async def restart() -> None:
                    raise AssertionError("nothing may be installed")

                async def health(version: str) -> HealthResult:
                    raise AssertionError("nothing may be installed")

                agent = UpdateAgent(
                    SlotLayout(root),
                    trust=device_trust,
                    hardware=HARDWARE,
                    check=updates.check,
                    restart=restart,
                    health=health,
                    report=updates.report,
                    retry=RetryPolicy(attempts=3, base=0.01, cap=0.05),
                )
                ends.append(await agent.run_once())
                await updates.deliver()
                assert not any((root / "slots").glob("*/*"))
            finally:
                store.close()
        state = await rc.get_rollout(rollout["id"])
        # the third canary's "downloading" made the sample (3) with 2 failed: halted then;
        # it failed too, and the fourth was offered nothing
        assert ends == [S.FAILED, S.FAILED, S.FAILED, S.IDLE]
        assert state["state"] == "halted", state
        assert "failed" in state["halted_reason"]
        assert await rc.offered() == set()


async def test_reports_go_over_the_mqtt_link_when_attached(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    async with release_cloud(sqlite_backend, Clock(), tmp_path / "cloud") as rc:
        release = await rc.publish("1.1.0")
        await rc.rollout(release_id=release["id"], steps=[100])
        (box,) = await rc.register(1)
        store = linked_store(tmp_path / "lb.db", box.secret)
        try:
            updates = CloudUpdates(
                CLOUD,
                store,
                box.device_id,
                Outbox(tmp_path / "outbox.jsonl"),
                http=rc.client,
                hardware=HARDWARE,
                current_version=lambda: "1.0.0",
            )
            topics = DeviceTopics(box.device_id)
            assert updates.topics(topics) == [f"lightbox/{box.device_id}/update/available"]
            await updates.handle(f"lightbox/{box.device_id}/update/available", b"{}")
            assert updates.wake.is_set()
            assert await updates.check() is not None
            cloud_side = DeviceUpdates(rc.services, ReleaseContext(rc.services.config))
            published: list[tuple[str, bytes]] = []

            async def publish(topic: str, payload: bytes) -> None:
                published.append((topic, payload))
                await cloud_side.record_payload(box.device_id, payload)  # as the broker would

            updates.attached(publish)
            from lightbox.edge.update.outbox import UpdateStatus

            updates.report(UpdateStatus(state="downloading", version="1.1.0"))
            updates.report(UpdateStatus(state="failed", version="1.1.0", reason="download"))
            assert await updates.deliver() == 2
            assert [t for t, _ in published] == [f"lightbox/{box.device_id}/update/status"] * 2
            assert json.loads(published[1][1])["reason"] == "download"
            r = await rc.client.get("/api/v1/rollouts", headers=rc.admin.headers)
            assert r.json()[0]["state"] == "completed"
            detail = await rc.get_rollout(r.json()[0]["id"])
            assert detail["counts"] == {"failed": 1}
            # offline (no link, cloud refuses): kept for later
            updates.attached(None)
            broken = CloudUpdates(
                "http://127.0.0.1:9", store, box.device_id, Outbox(tmp_path / "o2.jsonl")
            )
            broken.report(UpdateStatus(state="downloading", version="1.1.0"))
            with pytest.raises(CheckFailed):
                await broken.deliver()
            assert len(broken.outbox.pending()) == 1
        finally:
            store.close()


async def test_service_health_check_needs_version_broker_and_frames() -> None:
    shown = [0]
    connected = [True]

    def stats() -> Any:
        shown[0] += 1 if frames[0] else 0
        return SimpleNamespace(shown=shown[0])

    frames = [True]
    service: Any = SimpleNamespace(mqtt_connected=lambda: connected[0], stats=stats)

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"version": "1.1.0"})

    def check(**kw: Any) -> ServiceHealthCheck:
        return ServiceHealthCheck(
            service,
            "http://lb.test",
            interval=0.01,
            timeout=0.3,
            transport=httpx.MockTransport(answer),
            **kw,
        )

    assert (await check()("1.1.0")).ok
    wrong = await check()("1.2.0")
    assert not wrong.ok and "expected '1.2.0'" in wrong.detail
    connected[0] = False
    assert (await check()("1.1.0")).detail == "the MQTT broker is not connected"
    connected[0], frames[0] = True, False
    assert (await check()("1.1.0")).detail == "no frames are rendering"
