"""`lightbox demo` (what `make demo` runs) starts everything and prints where to go."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_demo_runs_lightbox_and_local_cloud_and_prints_the_urls(tmp_path: Path) -> None:
    env = dict(os.environ, COLUMNS="200")
    out = subprocess.run(
        [sys.executable, "-m", "lightbox", "demo", "--port", "0", "--seconds", "3"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout
    web = re.search(r"Web app\s+(http://127\.0\.0\.1:\d+)/#token=(lbx_\S+)", text)
    assert web, text
    assert re.search(r"MQTT\s+mqtt://127\.0\.0\.1:\d+", text), text
    if "No local cloud" not in text:
        assert re.search(
            r"Dashboard\s+http://127\.0\.0\.1:\d+/\s+\(the LightBox is (claimed|registered)", text
        ), text
        assert "Account" in text
    assert (tmp_path / ".demo" / "lightbox.db").exists()
    assert (tmp_path / ".demo" / "media" / "bounce.gif").exists()
