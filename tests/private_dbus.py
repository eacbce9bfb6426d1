"""A private D-Bus daemon for tests (never the system bus): its config, and the check
that it can run — a skip on a laptop without it, a failure under CI."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

DBUS_DAEMON = shutil.which("dbus-daemon") or "/usr/bin/dbus-daemon"

_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


def write_bus_config(directory: Path) -> Path:
    """A bus config listening on a socket in ``directory``; returns the config file."""
    config = directory / "bus.conf"
    config.write_text(_CONFIG.format(socket=directory / "bus.sock"))
    return config


def dbus_daemon_missing() -> str | None:
    """Looked up at each call (a test may hide it from PATH)."""
    if shutil.which("dbus-daemon") is None:
        return "dbus-daemon is not installed (apt install dbus-daemon)"
    return None


def skip_or_fail(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"D-Bus tests cannot run in CI: {reason}")
    pytest.skip(reason)
