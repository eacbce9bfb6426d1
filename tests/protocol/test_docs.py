"""Every JSON example in docs/protocol.md validates against the model named above it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pydantic import TypeAdapter

import lightbox.protocol as protocol

DOC = Path(__file__).parents[2] / "docs" / "protocol.md"
EXAMPLE = re.compile(r"<!-- model: (\w+) -->\s*```json\n(.*?)```", re.S)
EXAMPLES = EXAMPLE.findall(DOC.read_text(encoding="utf-8"))


def test_doc_has_examples() -> None:
    assert len(EXAMPLES) >= 10


@pytest.mark.parametrize(
    ("model", "text"), EXAMPLES, ids=[f"{m}-{i}" for i, (m, _) in enumerate(EXAMPLES)]
)
def test_example_is_valid(model: str, text: str) -> None:
    adapter: TypeAdapter[object] = TypeAdapter(getattr(protocol, model))
    adapter.validate_python(json.loads(text))


def test_every_command_type_is_documented() -> None:
    doc = DOC.read_text(encoding="utf-8")
    for command_type in protocol.COMMAND_TYPES:
        assert f"`{command_type}`" in doc, command_type


def test_every_error_code_is_documented() -> None:
    from typing import get_args

    doc = DOC.read_text(encoding="utf-8")
    for code in get_args(protocol.ErrorCode):
        assert f"`{code}`" in doc, code


def test_schema_command_prints_valid_json_schema() -> None:
    from lightbox.protocol.schema import json_schema

    schema = json_schema()
    for name in (
        "Command",
        "CommandResult",
        "State",
        "Settings",
        "Preset",
        "Playlist",
        "Schedule",
        "Scene",
        "Stats",
        "Catalog",
    ):
        assert name in schema["$defs"], name
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(schema)
    text = json.dumps(schema)
    for ref in re.findall(r'"\$ref": "#/\$defs/([^"]+)"', text):
        assert ref in schema["$defs"], f"dangling $ref {ref}"
