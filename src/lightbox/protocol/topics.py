"""MQTT topics of a LightBox (see docs/mqtt.md).

``lightbox/<device_id>/cmd``         in, QoS 1: a command
``lightbox/<device_id>/cmd/result``  out, QoS 1: a CommandResult for every command received
``lightbox/<device_id>/state``       out, QoS 1, retained: the full State after every change
``lightbox/<device_id>/status``      out, QoS 1, retained: "online"; the last will sets "offline"
``lightbox/<device_id>/info``        out, QoS 1, retained: DeviceInfo (name, version, size)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PREFIX = "lightbox"
DEVICE_ID_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9_-]{0,63}$"
_DEVICE_ID = re.compile(DEVICE_ID_PATTERN)

ONLINE = "online"
OFFLINE = "offline"


def check_device_id(device_id: str) -> str:
    if not _DEVICE_ID.match(device_id):
        raise ValueError(
            f"device id {device_id!r}: use 1..64 letters, digits, '-' or '_' "
            "(no '/', '+', '#' or spaces: it is part of MQTT topics)"
        )
    return device_id


@dataclass(frozen=True, slots=True)
class DeviceTopics:
    """Every topic of one device, under an optional extra ``prefix`` (tests, multi-tenant)."""

    device_id: str
    prefix: str = PREFIX

    def __post_init__(self) -> None:
        check_device_id(self.device_id)
        if not self.prefix or any(c in self.prefix for c in "+#") or self.prefix.endswith("/"):
            raise ValueError(
                f"topic prefix {self.prefix!r} must be non-empty, no '+', '#', '/' end"
            )

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.device_id}"

    @property
    def cmd(self) -> str:
        return f"{self.base}/cmd"

    @property
    def result(self) -> str:
        return f"{self.base}/cmd/result"

    @property
    def state(self) -> str:
        return f"{self.base}/state"

    @property
    def status(self) -> str:
        return f"{self.base}/status"

    @property
    def info(self) -> str:
        return f"{self.base}/info"

    @property
    def all(self) -> str:
        return f"{self.base}/#"
