"""Suite-wide safety: nothing a test starts may send traffic beyond loopback.

A LightBox built from defaults would advertise itself with mDNS on every interface and
look for a BlueZ radio; tests that want those turn them on explicitly, on loopback or on
their own network namespaces.
"""

from __future__ import annotations

import os

os.environ.setdefault("LIGHTBOX_MDNS_ENABLED", "false")
os.environ.setdefault("LIGHTBOX_BLE_ENABLED", "false")

import asyncio
from collections.abc import Callable, Mapping

import pytest
from hypothesis import HealthCheck, settings

# Timing deadlines fail at random on shared, noisy machines; performance lives in bench/.
settings.register_profile(
    "lightbox", deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("lightbox")


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Tests marked ``both_loops`` run on asyncio's event loop and on uvloop's.

    The services run on uvloop (see :mod:`lightbox.aio`); pytest-asyncio's default is
    asyncio's loop, which is what a LightBox falls back to where uvloop is missing.
    """
    factories: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
        "asyncio": asyncio.new_event_loop
    }
    if item.get_closest_marker("both_loops") is None:
        return factories  # one factory: the tests keep their names
    try:
        import uvloop
    except ImportError:
        return factories
    factories["uvloop"] = uvloop.new_event_loop
    return factories
