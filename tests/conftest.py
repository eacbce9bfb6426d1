"""Suite-wide safety: nothing a test starts may send traffic beyond loopback.

A LightBox built from defaults would advertise itself with mDNS on every interface and
look for a BlueZ radio; tests that want those turn them on explicitly, on loopback or on
their own network namespaces.
"""

from __future__ import annotations

import os

os.environ.setdefault("LIGHTBOX_MDNS_ENABLED", "false")
os.environ.setdefault("LIGHTBOX_BLE_ENABLED", "false")

from hypothesis import HealthCheck, settings

# Timing deadlines fail at random on shared, noisy machines; performance lives in bench/.
settings.register_profile(
    "lightbox", deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("lightbox")
