"""docs/mqtt.md is generated from the code; this fails when it is out of date."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from lightbox.protocol.topics import DeviceTopics

ROOT = Path(__file__).resolve().parents[3]


def load_generator() -> ModuleType:
    path = ROOT / "tools" / "gen_mqtt_docs.py"
    spec = importlib.util.spec_from_file_location("gen_mqtt_docs", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_mqtt_docs", module)
    spec.loader.exec_module(module)
    return module


def test_docs_mqtt_md_is_up_to_date() -> None:
    generator = load_generator()
    current = (ROOT / "docs" / "mqtt.md").read_text(encoding="utf-8")
    assert current == generator.render(), (
        "docs/mqtt.md is out of date: run `.venv/bin/python tools/gen_mqtt_docs.py`"
    )


def test_docs_name_every_topic() -> None:
    text = (ROOT / "docs" / "mqtt.md").read_text(encoding="utf-8")
    t = DeviceTopics("ID")
    for topic in (t.cmd, t.result, t.state, t.status, t.info):
        assert f"`{topic.replace('ID', '<device_id>')}`" in text
    for section in ("### Command", "### CommandResult", "### State", "### DeviceInfo"):
        assert section in text
