"""Per-device broker credentials through Mosquitto's dynamic security plugin.

:class:`DynsecAdmin` implements :class:`~lightbox.cloud.interfaces.BrokerAdmin`. It talks
to the plugin's control API: a JSON ``{"commands": [...]}`` published (QoS 1) on
``$CONTROL/dynamic-security/v1``; the plugin answers ``{"responses": [...]}`` on
``$CONTROL/dynamic-security/v1/response``. Every command carries a fresh
``correlationData`` and only responses carrying ours are taken: several cloud instances
may administer the broker at once, and every admin connection sees every response.

For device ``<id>`` the broker holds:

- a role ``device-<id>`` allowing ``publishClientSend``, ``publishClientReceive`` and
  ``subscribePattern`` on ``lightbox/<id>/#`` (the broker's default access is deny, see
  :mod:`lightbox.cloud.broker.config`, so that is all the device may do);
- a client with username ``<id>``, a strong random password, that role, and (by default)
  the client id pinned to ``lightbox-<id>``, so a device's credentials cannot take over
  another device's session.

:meth:`DynsecAdmin.revoke_device` disables the client (which also drops its connection);
:meth:`DynsecAdmin.create_device` on an existing device sets a new password and enables it
again. Each request opens its own short admin connection: provisioning is rare, and no
connection state can go stale between requests.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import ssl
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import aiomqtt

from lightbox.cloud.broker.config import device_acls, device_role
from lightbox.cloud.broker.errors import BrokerCommandFailed, BrokerUnavailable
from lightbox.edge.mqtt.settings import parse_mqtt_url
from lightbox.protocol.topics import PREFIX, check_device_id

__all__ = ["CONTROL_TOPIC", "RESPONSE_TOPIC", "DynsecAdmin", "new_password"]

logger = logging.getLogger(__name__)

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = "$CONTROL/dynamic-security/v1/response"
PASSWORD_BYTES = 32

# The plugin's answers that mean "already so": harmless when making a device idempotently.
_ROLE_EXISTS = "Role already exists"
_ACL_EXISTS = "ACL with this topic already exists"
_CLIENT_EXISTS = "Client already exists"
_CLIENT_NOT_FOUND = "Client not found"
_ROLE_NOT_FOUND = "Role not found"


def new_password() -> str:
    """A strong random password (256 bits, URL-safe text)."""
    return secrets.token_urlsafe(PASSWORD_BYTES)


def default_client_id(device_id: str) -> str:
    """The MQTT client id a device must use (the LightBox's default, ``lightbox-<id>``)."""
    return f"lightbox-{device_id}"


class DynsecAdmin:
    """Creates, rotates and revokes device credentials on a Mosquitto broker.

    ``mqtt_url`` is ``mqtt[s]://host:port`` (credentials in the URL are allowed and then
    win over none given). ``client_id_for`` pins each device to one client id; pass
    ``None`` not to pin.
    """

    def __init__(
        self,
        mqtt_url: str,
        admin_username: str | None = None,
        admin_password: str | None = None,
        *,
        prefix: str = PREFIX,
        timeout: float = 10.0,
        client_id_for: Callable[[str], str] | None = default_client_id,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        parsed = parse_mqtt_url(mqtt_url)
        self._host = parsed.host
        self._port = parsed.port
        self._username = admin_username or parsed.username
        self._password = admin_password or parsed.password
        if self._username is None or self._password is None:
            raise ValueError("the dynamic security admin needs a username and a password")
        if parsed.tls and tls_context is None:
            tls_context = ssl.create_default_context()
        self._tls = tls_context
        self._prefix = prefix
        self._timeout = timeout
        self._client_id_for = client_id_for

    # -- BrokerAdmin --------------------------------------------------------------------

    async def create_device(self, device_id: str) -> tuple[str, str]:
        """``(username, password)`` allowed ``lightbox/<device_id>/#`` only.

        Idempotent: an existing device gets a new password (its old one stops working,
        its current connection is not dropped) and is enabled again.
        """
        check_device_id(device_id)
        role = device_role(device_id)
        password = new_password()
        client: dict[str, Any] = {
            "command": "createClient",
            "username": device_id,
            "password": password,
            "textname": f"LightBox {device_id}",
            "roles": [{"rolename": role}],
        }
        client_id = self._client_id_for(device_id) if self._client_id_for else None
        if client_id:
            client["clientid"] = client_id
        commands: list[dict[str, Any]] = [
            {"command": "createRole", "rolename": role, "textname": f"topics of {device_id}"},
            *(
                {"command": "addRoleACL", "rolename": role, "priority": 0, **acl}
                for acl in device_acls(device_id, self._prefix)
            ),
            client,
        ]
        replies = await self._execute(commands)
        for command, reply in zip(commands[:-1], replies[:-1], strict=True):
            self._check(command, reply, allowed=(_ROLE_EXISTS, _ACL_EXISTS))
        if replies[-1].get("error") == _CLIENT_EXISTS:
            again: list[dict[str, Any]] = [
                {"command": "setClientPassword", "username": device_id, "password": password},
                {"command": "enableClient", "username": device_id},
            ]
            existing = await self.get_client(device_id) or {}
            roles = existing.get("roles") or []
            if not any(isinstance(r, dict) and r.get("rolename") == role for r in roles):
                # (adding a role the client already has is an "Internal error")
                again.append({"command": "addClientRole", "username": device_id, "rolename": role})
            if client_id:
                again.append(
                    {"command": "setClientId", "username": device_id, "clientid": client_id}
                )
            for command, reply in zip(again, await self._execute(again), strict=True):
                self._check(command, reply)
            logger.info("device %s: broker credentials renewed", device_id)
        else:
            self._check(client, replies[-1])
            logger.info("device %s: broker client created", device_id)
        return device_id, password

    async def revoke_device(self, device_id: str) -> None:
        """Disable the device's client; the broker drops its connection at once."""
        command = {"command": "disableClient", "username": device_id}
        (reply,) = await self._execute([command])
        self._check(command, reply, allowed=(_CLIENT_NOT_FOUND,))
        logger.info("device %s: broker client disabled", device_id)

    # -- more -----------------------------------------------------------------------------

    async def rotate_password(self, device_id: str) -> str:
        """Give an existing device a new password (the old one stops working)."""
        password = new_password()
        command = {"command": "setClientPassword", "username": device_id, "password": password}
        (reply,) = await self._execute([command])
        self._check(command, reply)
        logger.info("device %s: broker password rotated", device_id)
        return password

    async def delete_device(self, device_id: str) -> None:
        """Remove the device's client and role for good (kicks it); no-op if absent."""
        commands: list[dict[str, Any]] = [
            {"command": "deleteClient", "username": device_id},
            {"command": "deleteRole", "rolename": device_role(device_id)},
        ]
        replies = await self._execute(commands)
        for command, reply in zip(commands, replies, strict=True):
            self._check(command, reply, allowed=(_CLIENT_NOT_FOUND, _ROLE_NOT_FOUND))
        logger.info("device %s: broker client deleted", device_id)

    async def get_client(self, device_id: str) -> dict[str, Any] | None:
        """The plugin's view of a device's client (``getClient``), or None if it has none."""
        command = {"command": "getClient", "username": device_id}
        (reply,) = await self._execute([command])
        if reply.get("error") == _CLIENT_NOT_FOUND:
            return None
        self._check(command, reply)
        data = reply.get("data", {})
        client = data.get("client") if isinstance(data, dict) else None
        return client if isinstance(client, dict) else None

    async def execute(self, commands: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send raw control commands; the responses in the same order (errors included)."""
        return await self._execute([dict(c) for c in commands])

    # -- the control API ------------------------------------------------------------------

    @staticmethod
    def _check(
        command: dict[str, Any], reply: dict[str, Any], *, allowed: Sequence[str] = ()
    ) -> None:
        error = reply.get("error")
        if error and error not in allowed:
            subject = str(command.get("username") or command.get("rolename") or "")
            raise BrokerCommandFailed(str(command["command"]), str(error), subject=subject)

    def _client(self) -> aiomqtt.Client:
        return aiomqtt.Client(
            self._host,
            self._port,
            username=self._username,
            password=self._password,
            identifier=f"lightbox-dynsec-{uuid.uuid4().hex[:16]}",
            clean_session=True,
            tls_context=self._tls,
            timeout=self._timeout,
            logger=logging.getLogger(f"{__name__}.client"),
        )

    async def _execute(self, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
        request = uuid.uuid4().hex
        ids = [f"{request}-{i}" for i in range(len(commands))]
        for command, correlation_id in zip(commands, ids, strict=True):
            command["correlationData"] = correlation_id
        found: dict[str, dict[str, Any]] = {}
        names = ", ".join(str(c["command"]) for c in commands)
        try:
            async with asyncio.timeout(self._timeout), self._client() as client:
                await client.subscribe(RESPONSE_TOPIC, qos=1)
                await client.publish(CONTROL_TOPIC, json.dumps({"commands": commands}), qos=1)
                async for message in client.messages:
                    for reply in _responses(message.payload):
                        correlation = reply.get("correlationData")
                        if isinstance(correlation, str) and correlation in ids:
                            found[correlation] = reply
                    if len(found) == len(ids):
                        break
        except aiomqtt.MqttError as err:
            raise BrokerUnavailable(
                f"cannot use the broker's control API at {self._host}:{self._port} "
                f"({names}): {err}; check the broker URL and the admin credentials"
            ) from err
        except TimeoutError as err:
            raise BrokerUnavailable(
                f"no answer from the broker's dynamic security plugin at "
                f"{self._host}:{self._port} within {self._timeout:g} s ({names}); is the "
                "plugin loaded and may the admin client use $CONTROL/dynamic-security/#?"
            ) from err
        if len(found) < len(ids):
            raise BrokerUnavailable(
                f"the broker at {self._host}:{self._port} closed the control connection "
                f"before answering ({names})"
            )
        return [found[i] for i in ids]


def _responses(payload: Any) -> list[dict[str, Any]]:
    try:
        data = json.loads(payload)
    except (TypeError, ValueError):
        return []
    responses = data.get("responses") if isinstance(data, dict) else None
    if not isinstance(responses, list):
        return []
    return [r for r in responses if isinstance(r, dict)]
