"""Helpers of the release and rollout tests: a cloud with release storage and trusted
keys, an admin, registered devices, and signed artifacts published to storage.

Not fixtures, so that the device-side tests (tests/edge/update) use them too.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lightbox.cloud.memory import MemoryBrokerAdmin, MemoryRelay
from lightbox.cloud.releases.admin import set_admin
from lightbox.cloud.security import Passwords
from lightbox.cloud.services import CloudServices
from lightbox.release.artifact import build, sha256_file
from lightbox.release.keys import generate_key, save_public_key
from lightbox.release.storage import ReleaseStorage, artifact_key
from tests.cloud.conftest import Api, Backend, Clock, User, api_for
from tests.release.wheelfactory import make_release_wheels

HARDWARE = "linux-x86_64"


class NotifyingAdmin(MemoryBrokerAdmin):
    """The in-memory broker admin, also recording update notifications."""

    def __init__(self) -> None:
        super().__init__()
        self.notified: list[tuple[str, str]] = []

    async def notify_update(self, device_id: str, version: str) -> None:
        self.notified.append((device_id, version))


@dataclass
class Box:
    """A registered device as the cloud knows it."""

    device_id: str
    secret: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}"}


@dataclass
class ReleaseCloud:
    api: Api
    services: CloudServices
    admin: User
    key: Ed25519PrivateKey
    trust_dir: Path
    work: Path
    notifier: NotifyingAdmin
    storage: ReleaseStorage
    boxes: list[Box] = field(default_factory=list)

    @property
    def client(self) -> Any:
        return self.api.client

    def artifact(
        self,
        version: str,
        *,
        channel: str = "stable",
        key: Ed25519PrivateKey | None = None,
        signed: bool = True,
        hardware: tuple[str, ...] = (HARDWARE, "rpi-arm64"),
    ) -> Path:
        wheels = make_release_wheels(self.work / f"w-{version}-{uuid.uuid4().hex[:6]}", version)
        out = self.work / f"lightbox-{version}-{uuid.uuid4().hex[:6]}.lbx"
        build(
            wheels,
            out,
            channel=channel,
            hardware=list(hardware),
            signing_key=(key or self.key) if signed else None,
        )
        return out

    def upload(self, path: Path, key: str | None = None) -> tuple[str, str]:
        """Put an artifact into release storage; (storage key, sha256)."""
        key = key or f"{artifact_key('x')}-{uuid.uuid4().hex[:8]}"
        self.storage.put(key, path)
        return key, sha256_file(path)[0]

    async def publish(self, version: str, **options: Any) -> dict[str, Any]:
        """Build, upload and register a release; its JSON."""
        key, digest = self.upload(self.artifact(version, **options))
        r = await self.client.post(
            "/api/v1/releases",
            json={"storage_key": key, "sha256": digest},
            headers=self.admin.headers,
        )
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        return body

    async def register(self, count: int, *, version: str = "1.0.0") -> list[Box]:
        boxes = []
        for _ in range(count):
            reg = await self.api.register(version=version, hardware=HARDWARE)
            boxes.append(Box(reg["device_id"], reg["registration_secret"]))
        self.boxes.extend(boxes)
        return boxes

    async def rollout(self, **body: Any) -> dict[str, Any]:
        r = await self.client.post("/api/v1/rollouts", json=body, headers=self.admin.headers)
        assert r.status_code == 201, r.text
        data: dict[str, Any] = r.json()
        return data

    async def act(self, rollout_id: str, action: str, **body: Any) -> dict[str, Any]:
        r = await self.client.post(
            f"/api/v1/rollouts/{rollout_id}/{action}",
            json=body or None,
            headers=self.admin.headers,
        )
        assert r.status_code == 200, r.text
        data: dict[str, Any] = r.json()
        return data

    async def get_rollout(self, rollout_id: str) -> dict[str, Any]:
        r = await self.client.get(f"/api/v1/rollouts/{rollout_id}", headers=self.admin.headers)
        assert r.status_code == 200, r.text
        data: dict[str, Any] = r.json()
        return data

    async def offer(self, box: Box, version: str = "1.0.0", **params: str) -> dict[str, Any] | None:
        r = await self.client.get(
            f"/api/v1/devices/{box.device_id}/update",
            params={"version": version, "hardware": HARDWARE, **params},
            headers=box.headers,
        )
        if r.status_code == 204:
            return None
        assert r.status_code == 200, r.text
        data: dict[str, Any] = r.json()
        return data

    async def offered(self, boxes: list[Box] | None = None) -> set[str]:
        return {b.device_id for b in boxes or self.boxes if await self.offer(b) is not None}

    async def report(self, box: Box, state: str, version: str, **extra: Any) -> dict[str, Any]:
        body = {"id": uuid.uuid4().hex, "state": state, "version": version, **extra}
        r = await self.client.post(
            f"/api/v1/devices/{box.device_id}/update/status", json=body, headers=box.headers
        )
        assert r.status_code == 200, r.text
        data: dict[str, Any] = r.json()
        return data


@contextlib.asynccontextmanager
async def release_cloud(
    backend: Backend,
    clock: Clock,
    work: Path,
    *,
    key: Ed25519PrivateKey | None = None,
    **config: Any,
) -> AsyncIterator[ReleaseCloud]:
    """A cloud on ``backend`` whose release storage is ``work/storage`` (unless
    ``storage_url`` is given) and that trusts one fresh release key."""
    from lightbox.cloud.releases.context import storage_for

    key = key or generate_key()
    trust_dir = work / "trust"
    save_public_key(key.public_key(), trust_dir / "release.pub")
    settings: dict[str, Any] = {
        "storage_url": str(work / "storage"),
        "release_trust_dir": trust_dir,
    }
    settings.update(config)
    cfg = backend.config(**settings)
    notifier = NotifyingAdmin()
    services = await CloudServices.open(
        cfg,
        schema=backend.schema,
        passwords=Passwords.fast(),
        clock=clock,
        broker_admin=notifier,
        relay=MemoryRelay(),
    )
    try:
        async with api_for(services) as api:
            admin = await api.user()
            assert await set_admin(services.sessionmaker, admin.email)
            yield ReleaseCloud(
                api, services, admin, key, trust_dir, work, notifier, storage_for(cfg)
            )
    finally:
        await services.close()
