"""Mosquitto configuration for the cloud broker: ``mosquitto.conf`` and the initial
``dynamic-security.json`` (what ``mosquitto_ctrl dynsec init`` writes, plus our roles).

The initial file holds two clients and nothing else; devices are added at run time through
the control API (:class:`~lightbox.cloud.broker.dynsec.DynsecAdmin`):

- the **admin** client (role ``admin``): may use ``$CONTROL/dynamic-security/#`` only;
- the **cloud service** client (role ``lightbox-cloud``): every cloud instance connects
  with it; it may subscribe, send and receive on ``<prefix>/#``, and subscribe to
  ``$share/lightbox-cloud/<prefix>/#`` (Mosquitto checks a shared subscription's filter
  with its ``$share/<group>/`` prefix).

Default access is *deny* for everything (publish, receive, subscribe), so a client can do
only what one of its roles allows. Unsubscribing is always allowed (harmless).

Passwords are stored the way the plugin stores them: PBKDF2-HMAC-SHA512, a random salt,
64-byte hash, both base64.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pwd
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lightbox.protocol.topics import PREFIX

__all__ = [
    "ADMIN_ROLE",
    "CLOUD_ROLE",
    "DEFAULT_PLUGIN_PATH",
    "DEVICE_ACL_TYPES",
    "BrokerFiles",
    "device_acls",
    "device_role",
    "dynsec_client",
    "dynsec_document",
    "hash_password",
    "write_broker_files",
]

DEFAULT_PLUGIN_PATH = Path("/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so")
ADMIN_ROLE = "admin"
CLOUD_ROLE = "lightbox-cloud"
CONTROL_TOPICS = "$CONTROL/dynamic-security/#"
SHARE_GROUP = "lightbox-cloud"
"""The shared-subscription group of the cloud instances."""
PBKDF2_ITERATIONS = 101  # the plugin's own default; it reads the count from the file
DEVICE_ACL_TYPES = ("publishClientSend", "publishClientReceive", "subscribePattern")


def device_role(device_id: str) -> str:
    """The name of the role that holds one device's ACLs."""
    return f"device-{device_id}"


def device_acls(device_id: str, prefix: str = PREFIX) -> list[dict[str, Any]]:
    """A device's ACLs: send, receive and subscribe on ``<prefix>/<device_id>/#`` only."""
    topic = f"{prefix}/{device_id}/#"
    return [{"acltype": kind, "topic": topic, "allow": True} for kind in DEVICE_ACL_TYPES]


def hash_password(
    password: str, *, salt: bytes | None = None, iterations: int = PBKDF2_ITERATIONS
) -> dict[str, Any]:
    """The ``password``/``salt``/``iterations`` fields of a dynamic-security client."""
    salt = secrets.token_bytes(12) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, 64)
    return {
        "password": base64.b64encode(digest).decode(),
        "salt": base64.b64encode(salt).decode(),
        "iterations": iterations,
    }


def dynsec_client(
    username: str, password: str, roles: Iterable[str], *, text_name: str = ""
) -> dict[str, Any]:
    """One entry of the ``clients`` list."""
    return {
        "username": username,
        "textName": text_name or username,
        **hash_password(password),
        "roles": [{"rolename": role} for role in roles],
    }


def _role(name: str, acls: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "rolename": name,
        "acls": [{"acltype": kind, "topic": topic, "allow": True} for kind, topic in acls],
    }


def dynsec_document(
    *,
    admin_username: str,
    admin_password: str,
    cloud_username: str,
    cloud_password: str,
    prefix: str = PREFIX,
) -> dict[str, Any]:
    """The initial ``dynamic-security.json``: the admin and cloud service clients, deny all
    by default."""
    everything = f"{prefix}/#"
    return {
        "clients": [
            dynsec_client(admin_username, admin_password, [ADMIN_ROLE], text_name="dynsec admin"),
            dynsec_client(cloud_username, cloud_password, [CLOUD_ROLE], text_name="LightBox cloud"),
        ],
        "groups": [],
        "roles": [
            _role(
                ADMIN_ROLE,
                [
                    ("publishClientSend", CONTROL_TOPICS),
                    ("publishClientReceive", CONTROL_TOPICS),
                    ("subscribePattern", CONTROL_TOPICS),
                ],
            ),
            _role(
                CLOUD_ROLE,
                [
                    ("publishClientSend", everything),
                    ("publishClientReceive", everything),
                    ("subscribePattern", everything),
                    # Mosquitto checks a shared subscription with its $share/ prefix
                    ("subscribePattern", f"$share/{SHARE_GROUP}/{everything}"),
                ],
            ),
        ],
        "defaultACLAccess": {
            "publishClientSend": False,
            "publishClientReceive": False,
            "subscribe": False,
            "unsubscribe": True,
        },
    }


@dataclass(frozen=True, slots=True)
class BrokerFiles:
    """Where :func:`write_broker_files` put things."""

    config: Path
    dynsec: Path
    data_dir: Path
    log: Path


def write_broker_files(
    directory: Path,
    *,
    port: int,
    admin_username: str,
    admin_password: str,
    cloud_username: str,
    cloud_password: str,
    host: str = "127.0.0.1",
    prefix: str = PREFIX,
    plugin_path: Path = DEFAULT_PLUGIN_PATH,
    persistence: bool = True,
    tls: tuple[Path, Path] | None = None,
    run_as_current_user: bool = True,
) -> BrokerFiles:
    """Write ``mosquitto.conf`` and ``dynamic-security.json`` into ``directory``.

    ``tls`` = (certificate, key) makes the listener TLS-only. ``run_as_current_user``
    writes a ``user`` line naming us (mosquitto started as root switches to the
    ``mosquitto`` user, which could not write the plugin's file in our directory).
    """
    directory.mkdir(parents=True, exist_ok=True)
    dynsec = directory / "dynamic-security.json"
    document = dynsec_document(
        admin_username=admin_username,
        admin_password=admin_password,
        cloud_username=cloud_username,
        cloud_password=cloud_password,
        prefix=prefix,
    )
    dynsec.write_text(json.dumps(document, indent=2) + "\n")
    dynsec.chmod(0o600)  # password hashes
    log = directory / "mosquitto.log"
    lines = []
    if run_as_current_user:
        lines.append(f"user {pwd.getpwuid(os.getuid()).pw_name}")
    lines += [
        "per_listener_settings false",
        f"listener {port} {host}",
        "allow_anonymous false",
        f"plugin {plugin_path}",
        f"plugin_opt_config_file {dynsec}",
    ]
    if tls is not None:
        lines += [f"certfile {tls[0]}", f"keyfile {tls[1]}", "tls_version tlsv1.2"]
    if persistence:
        lines += ["persistence true", f"persistence_location {directory}/"]
    lines += [
        "set_tcp_nodelay true",  # commands and results are small: send them at once
        "max_queued_messages 10000",
        f"log_dest file {log}",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "log_type information",
        "connection_messages true",
    ]
    config = directory / "mosquitto.conf"
    config.write_text("\n".join(lines) + "\n")
    return BrokerFiles(config=config, dynsec=dynsec, data_dir=directory, log=log)
