"""The LightBox client SDK: the local API, the cloud API, and both (local first).

::

    from lightbox.client import CloudClient, HybridClient, LocalClient

    local = LocalClient("http://192.168.1.20", token="lbx_...")
    cloud = CloudClient("https://cloud.example", email="me@example.com", password="...",
                        device_id="lightbox-1a2b3c4d")
    async with local, cloud, HybridClient(local, cloud) as box:
        result = await box.set(brightness=80)
        print(result.ok, box.via)        # "via LAN 192.168.1.20:80" or "via cloud"

Errors: one tree, the same on both paths (:mod:`lightbox.client.errors`).
See docs/client.md.
"""

from __future__ import annotations

from lightbox.client.cloud import CloudClient
from lightbox.client.commands import prepare, scene_from, set_command
from lightbox.client.errors import (
    CommandRefused,
    ConnectionFailed,
    DeviceOffline,
    LightBoxClientError,
    NotFound,
    RateLimited,
    Timeout,
    Unauthorized,
    Unsupported,
)
from lightbox.client.hybrid import Device, HybridClient, Path
from lightbox.client.local import LocalClient

__all__ = [
    "CloudClient",
    "CommandRefused",
    "ConnectionFailed",
    "Device",
    "DeviceOffline",
    "HybridClient",
    "LightBoxClientError",
    "LocalClient",
    "NotFound",
    "Path",
    "RateLimited",
    "Timeout",
    "Unauthorized",
    "Unsupported",
    "prepare",
    "scene_from",
    "set_command",
]
