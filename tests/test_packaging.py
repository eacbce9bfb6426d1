"""Each extra installs only what it needs: the cloud must not import the LightBox service."""

from __future__ import annotations

import subprocess
import sys


def _loaded_by(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_cloud_app_does_not_import_the_edge_service() -> None:
    loaded = _loaded_by("lightbox.cloud.api.app")
    edge_only = {
        "lightbox.edge.service",
        "lightbox.edge.store",
        "lightbox.render.effects",
        "astral",
    }
    assert not (loaded & edge_only), sorted(loaded & edge_only)


def test_protocol_is_light() -> None:
    loaded = _loaded_by("lightbox.protocol")
    heavy = {"fastapi", "sqlalchemy", "numpy", "PIL", "aiomqtt"}
    assert not (loaded & heavy), sorted(loaded & heavy)
