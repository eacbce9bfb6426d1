"""Firmware releases and staged rollouts, the cloud's side (docs/updates.md).

::

    cohort.py    pure rules: stable buckets, channels, widening, when a rollout halts
    schemas.py   request and response bodies
    context.py   release storage, trusted keys, update notifications, MQTT topics
    admin.py     ReleaseAdmin: register (verified) releases, device groups, rollouts
    updates.py   DeviceUpdates: offers with presigned URLs, status reports, owner view

The routes are :mod:`lightbox.cloud.api.routes.releases`. The artifact format, keys and
storage are :mod:`lightbox.release`; the device's agent is :mod:`lightbox.edge.update`.
"""

from lightbox.cloud.releases.admin import ReleaseAdmin
from lightbox.cloud.releases.context import ReleaseContext, subscribe_reports
from lightbox.cloud.releases.updates import DeviceUpdates

__all__ = ["DeviceUpdates", "ReleaseAdmin", "ReleaseContext", "subscribe_reports"]
