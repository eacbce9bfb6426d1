"""Everything broker-side that one cloud instance runs, assembled: :class:`CloudBroker`.

- ``admin``: :class:`~lightbox.cloud.broker.dynsec.DynsecAdmin` (the ``BrokerAdmin``);
- ``connection``: the instance's own MQTT connection as the cloud service client;
- ``presence``: :class:`~lightbox.cloud.broker.presence.PresenceWatcher` on that connection;
- ``relay``: :class:`~lightbox.cloud.relay.MqttRelay` (the ``Relay``) on that connection.

:class:`CloudBroker` is itself the ``BrokerAdmin`` to plug into the cloud: it delegates to
``admin`` and, on revocation, also publishes the device's ``status`` = ``offline``
(retained) because a client kicked by the broker leaves without its last will.

:meth:`CloudBroker.start` starts the relay's cache listeners and the connection task (and
may wait for the first connect); :meth:`CloudBroker.stop` stops both, with timeouts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import uuid

from lightbox.cloud.broker.connection import BrokerConnection, NotConnected
from lightbox.cloud.broker.dynsec import DynsecAdmin
from lightbox.cloud.broker.errors import BrokerUnavailable
from lightbox.cloud.broker.presence import PresenceCallback, PresenceWatcher
from lightbox.cloud.cache import Cache
from lightbox.cloud.relay import MqttRelay
from lightbox.protocol.topics import OFFLINE, PREFIX, DeviceTopics

__all__ = ["CloudBroker"]

logger = logging.getLogger(__name__)


class CloudBroker:
    """The broker side of one cloud instance."""

    def __init__(
        self,
        mqtt_url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        admin_username: str | None = None,
        admin_password: str | None = None,
        cache: Cache | None = None,
        on_presence: PresenceCallback | None = None,
        instance_id: str | None = None,
        prefix: str = PREFIX,
        tls_context: ssl.SSLContext | None = None,
        reconnect_min_s: float = 0.5,
        reconnect_max_s: float = 30.0,
    ) -> None:
        self.instance_id = instance_id or f"cloud-{uuid.uuid4().hex[:12]}"
        self.admin: DynsecAdmin | None = None
        if admin_username is not None and admin_password is not None:
            self.admin = DynsecAdmin(
                mqtt_url, admin_username, admin_password, prefix=prefix, tls_context=tls_context
            )
        # The client id is unique even if two instances were given the same instance id:
        # the broker would otherwise kick one with the other, forever.
        self.connection = BrokerConnection(
            mqtt_url,
            username,
            password,
            client_id=f"lightbox-cloud-{self.instance_id}-{uuid.uuid4().hex[:6]}"[:128],
            tls_context=tls_context,
            reconnect_min_s=reconnect_min_s,
            reconnect_max_s=reconnect_max_s,
        )
        self.presence = PresenceWatcher(self.connection, on_presence, prefix=prefix)
        self.relay = MqttRelay(
            self.connection,
            self.presence.is_online,
            cache=cache,
            instance_id=self.instance_id,
            prefix=prefix,
        )
        self._prefix = prefix
        self._task: asyncio.Task[None] | None = None

    # -- BrokerAdmin ------------------------------------------------------------------------

    async def create_device(self, device_id: str) -> tuple[str, str]:
        return await self._admin().create_device(device_id)

    async def revoke_device(self, device_id: str) -> None:
        await self._admin().revoke_device(device_id)
        try:
            await self.connection.publish(
                DeviceTopics(device_id, self._prefix).status, OFFLINE, qos=1, retain=True
            )
        except NotConnected as err:  # the retained status says online until it reconnects
            logger.warning("device %s: revoked, but could not mark it offline: %s", device_id, err)

    def _admin(self) -> DynsecAdmin:
        if self.admin is None:
            raise BrokerUnavailable(
                "no broker admin credentials are configured (mqtt_admin_username and "
                "mqtt_admin_password): devices cannot get broker credentials"
            )
        return self.admin

    # -- life cycle -------------------------------------------------------------------------

    async def start(self, *, wait_connected: float | None = None) -> None:
        """Start; with ``wait_connected``, also wait that long for the broker (TimeoutError)."""
        await self.relay.start()
        if self._task is None:
            self._task = asyncio.create_task(self.connection.run(), name="cloud-broker")
        if wait_connected is not None:
            await self.connection.wait_connected(wait_connected)

    async def stop(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        task, self._task = self._task, None
        await self.connection.stop(timeout)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout)
        await self.relay.stop()
