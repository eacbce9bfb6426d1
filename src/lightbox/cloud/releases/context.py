"""What the release logic needs beyond the database: storage, trust, notifications, topics.

:class:`ReleaseContext` is built from the instance's :class:`CloudConfig` (release storage
from ``storage_url``, trusted keys from ``release_trust_dir``) and its broker: with a real
cloud broker (:class:`~lightbox.cloud.broker.CloudBroker`) devices are told of a new offer
on ``lightbox/<id>/update/available``; a ``broker_admin`` that has ``notify_update`` itself
(tests) is used as it is; otherwise nobody is told and devices find offers on their timer.

Device status reports arrive on ``lightbox/<id>/update/status`` (QoS 1): :func:`subscribe_reports`
adds the shared subscription to an instance's broker connection before it runs.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from lightbox.cloud.config import CloudConfig
from lightbox.cloud.errors import InvalidRequest
from lightbox.protocol.topics import PREFIX
from lightbox.release.errors import ReleaseError
from lightbox.release.keys import TrustStore
from lightbox.release.storage import LocalStorage, ReleaseStorage, S3Storage

if TYPE_CHECKING:
    import aiomqtt

    from lightbox.cloud.broker.connection import BrokerConnection
    from lightbox.cloud.services import CloudServices

log = logging.getLogger(__name__)

AVAILABLE = "update/available"
STATUS = "update/status"
NOTIFY_CONCURRENCY = 50


def available_topic(device_id: str, prefix: str = PREFIX) -> str:
    return f"{prefix}/{device_id}/{AVAILABLE}"


def status_topic(device_id: str, prefix: str = PREFIX) -> str:
    return f"{prefix}/{device_id}/{STATUS}"


def device_of_status(topic: str, prefix: str = PREFIX) -> str | None:
    """The device id of a ``<prefix>/<id>/update/status`` topic, else None."""
    head, sep, rest = topic.partition("/")
    if head != prefix or not sep:
        return None
    device_id, sep, tail = rest.partition("/")
    return device_id if sep and tail == STATUS and device_id else None


@runtime_checkable
class UpdateNotifier(Protocol):
    async def notify_update(self, device_id: str, version: str) -> None:
        """Tell the device that an update is offered (best effort: it also checks on a timer)."""
        ...


class NullNotifier:
    async def notify_update(self, device_id: str, version: str) -> None:
        return None


class MqttNotifier:
    """Publishes ``{"version": ...}`` on the device's ``update/available`` (QoS 1)."""

    def __init__(self, connection: BrokerConnection, *, expiry_s: int = 3600) -> None:
        self.connection = connection
        self.expiry_s = expiry_s

    async def notify_update(self, device_id: str, version: str) -> None:
        payload = json.dumps({"version": version})
        await self.connection.publish(
            available_topic(device_id), payload, qos=1, expiry_s=self.expiry_s
        )


async def notify_all(notifier: UpdateNotifier, device_ids: list[str], version: str) -> int:
    """Notify each device; returns how many notifications went out (failures are logged)."""
    gate = asyncio.Semaphore(NOTIFY_CONCURRENCY)
    sent = 0

    async def one(device_id: str) -> None:
        nonlocal sent
        async with gate:
            try:
                await notifier.notify_update(device_id, version)
            except Exception as err:  # best effort: the device checks on its timer too
                log.warning("device %s: update %s not notified: %s", device_id, version, err)
            else:
                sent += 1

    await asyncio.gather(*(one(d) for d in device_ids))
    return sent


def storage_for(config: CloudConfig) -> ReleaseStorage:
    """Release storage of ``config``: S3 (credentials from boto3's usual chain) or a dir."""
    if config.storage_is_s3:
        bucket, _, prefix = config.storage_url.removeprefix("s3://").partition("/")
        return S3Storage(
            bucket, prefix, endpoint_url=config.s3_endpoint_url, region=config.s3_region
        )
    directory = config.storage_dir
    assert directory is not None
    return LocalStorage(directory)


@dataclass
class ReleaseContext:
    config: CloudConfig
    notifier: UpdateNotifier = field(default_factory=NullNotifier)
    _storage: ReleaseStorage | None = None

    @property
    def storage(self) -> ReleaseStorage:
        if self._storage is None:
            self._storage = storage_for(self.config)
        return self._storage

    def trust(self) -> TrustStore:
        """The trusted release keys, read again each time (keys rotate without a restart)."""
        directory: Path | None = self.config.release_trust_dir
        if directory is None:
            raise InvalidRequest(
                "this cloud trusts no release keys: set LIGHTBOX_CLOUD_RELEASE_TRUST_DIR to a "
                "directory of *.pub files (and 'revoked')",
                field="storage_key",
            )
        try:
            return TrustStore.load(directory)
        except ReleaseError as err:
            raise InvalidRequest(f"trusted keys: {err.message}", field="storage_key") from err

    @classmethod
    def for_services(cls, services: CloudServices) -> ReleaseContext:
        from lightbox.cloud.broker.service import CloudBroker

        admin = services.broker_admin
        notifier: UpdateNotifier
        if isinstance(admin, CloudBroker):
            notifier = MqttNotifier(admin.connection, expiry_s=services.config.release_url_ttl_s)
        elif isinstance(admin, UpdateNotifier):
            notifier = admin
        else:
            notifier = NullNotifier()
        return cls(services.config, notifier)


def subscribe_reports(connection: BrokerConnection, services: CloudServices) -> None:
    """Store the update reports devices publish, on one instance of the group each."""
    from lightbox.cloud.broker.connection import shared
    from lightbox.cloud.releases.updates import DeviceUpdates

    updates = DeviceUpdates(services, ReleaseContext(services.config))

    async def handle(message: aiomqtt.Message) -> None:
        device_id = device_of_status(str(message.topic))
        payload = message.payload
        if device_id is None or not isinstance(payload, bytes | bytearray):
            return
        await updates.record_payload(device_id, bytes(payload))

    connection.subscribe(shared(f"{PREFIX}/+/{STATUS}"), handle, qos=1, name="update-status")


__all__ = [
    "MqttNotifier",
    "NullNotifier",
    "ReleaseContext",
    "UpdateNotifier",
    "available_topic",
    "device_of_status",
    "notify_all",
    "status_topic",
    "storage_for",
    "subscribe_reports",
]
