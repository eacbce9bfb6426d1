"""The command model: every valid command round-trips; every invalid one is refused clearly."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightbox.protocol import (
    COMMAND_TYPES,
    InvalidCommand,
    SetCommand,
    command_adapter,
    command_id_of,
    parse_command,
)
from tests.protocol.strategies import commands, set_commands

SETTINGS = settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)


@SETTINGS
@given(commands())
def test_valid_commands_round_trip_through_json(data: dict[str, Any]) -> None:
    command = parse_command(json.dumps(data).encode())
    wire = command_adapter().dump_json(command)
    again = parse_command(wire)
    assert again == command
    assert command.type == data["type"]
    assert command.id == data.get("id")


@SETTINGS
@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False)
        | st.text(max_size=20),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=10), children, max_size=4)
        ),
        max_leaves=20,
    )
)
def test_arbitrary_json_is_refused_or_parsed_never_crashes(data: Any) -> None:
    try:
        parse_command(json.dumps(data))
    except InvalidCommand as err:
        assert err.code in ("invalid_command", "unknown_command", "invalid_json")
        assert err.message


@SETTINGS
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_crash(raw: bytes) -> None:
    try:
        parse_command(raw)
    except InvalidCommand as err:
        assert err.message


@SETTINGS
@given(
    set_commands(),
    st.sampled_from(["brightness", "power", "type", "scene"]),
    st.one_of(
        st.integers(256, 10**6),
        st.integers(-(10**6), -1),
        st.text(max_size=5),
        st.lists(st.integers(), max_size=2),
    ),
)
def test_invalid_field_is_named(data: dict[str, Any], field: str, bad: Any) -> None:
    data = {**data, field: bad}
    with pytest.raises(InvalidCommand) as info:
        parse_command(data)
    assert field in info.value.message or info.value.code == "unknown_command"


@pytest.mark.parametrize(
    ("payload", "code", "fragment"),
    [
        (b"{not json", "invalid_json", "not valid JSON"),
        (b"[]", "invalid_command", "JSON object"),
        (b"{}", "invalid_command", "needs a 'type'"),
        (b'{"type": "explode"}', "unknown_command", "unknown command type 'explode'"),
        (b'{"type": "set"}', "invalid_command", "at least one of power, brightness, scene"),
        (b'{"type": "set", "brightness": 300}', "invalid_command", "brightness"),
        (b'{"type": "set", "brightness": 10, "colour": 1}', "invalid_command", "colour"),
        (
            b'{"type": "set", "scene": {"type": "effect", "effect": "nope"}}',
            "invalid_command",
            "unknown effect 'nope'; allowed:",
        ),
        (
            b'{"type": "set", "scene": {"type": "solid", "color": "#12345"}}',
            "invalid_command",
            "scene.color",
        ),
        (
            b'{"type": "set", "scene": {"type": "text", "text": ""}}',
            "invalid_command",
            "scene.text:",
        ),
        (
            b'{"type": "set", "scene": {"type": "clock", "timezone": "Mars/Olympus"}}',
            "invalid_command",
            "time zone 'Mars/Olympus' is unknown",
        ),
        (
            b'{"type": "set", "scene": {"type": "text", "text": "a", "size": 20}}',
            "invalid_command",
            "size applies only to font 'scalable'",
        ),
        (b'{"type": "set", "scene": {"type": "warp"}}', "invalid_command", "scene"),
        (b'{"type": "identify", "duration_s": 0}', "invalid_command", "duration_s"),
        (b'{"type": "set", "power": true, "id": "has space"}', "invalid_command", "id"),
        (
            b'{"type": "schedule.save", "schedule": {"id": "x", "name": "x", '
            b'"trigger": {"type": "time", "at": "25:00"}, "action": {"type": "playlist.stop"}}}',
            "invalid_command",
            "HH:MM",
        ),
    ],
)
def test_specific_errors(payload: bytes, code: str, fragment: str) -> None:
    with pytest.raises(InvalidCommand) as info:
        parse_command(payload)
    assert info.value.code == code
    assert fragment in info.value.message, info.value.message


def test_effect_parameters_checked_against_catalogue() -> None:
    from lightbox.protocol.catalog import EFFECTS

    with_params = [e for e in EFFECTS if any(p.type in ("int", "float") for p in e.params)]
    assert with_params, "some effect should have numeric parameters"
    info = with_params[0]
    spec = next(p for p in info.params if p.type in ("int", "float"))
    assert spec.maximum is not None
    bad = {
        "type": "set",
        "scene": {"type": "effect", "effect": info.name, "params": {spec.name: spec.maximum + 1}},
    }
    with pytest.raises(InvalidCommand) as err:
        parse_command(bad)
    assert spec.name in err.value.message and "between" in err.value.message
    unknown = {
        "type": "set",
        "scene": {"type": "effect", "effect": info.name, "params": {"zzz": 1}},
    }
    with pytest.raises(InvalidCommand, match="has no parameter 'zzz'"):
        parse_command(unknown)


def test_colour_forms_normalise() -> None:
    a = parse_command({"type": "set", "scene": {"type": "solid", "color": "#F80"}})
    b = parse_command({"type": "set", "scene": {"type": "solid", "color": [255, 136, 0]}})
    assert isinstance(a, SetCommand) and isinstance(b, SetCommand)
    assert a == b
    assert json.loads(command_adapter().dump_json(a))["scene"]["color"] == "#ff8800"


def test_command_id_of_reads_ids_from_invalid_payloads() -> None:
    assert command_id_of(b'{"id": "abc", "type": "bogus"}') == "abc"
    assert command_id_of(b"nonsense") is None
    assert command_id_of(b'{"id": 5}') is None


def test_every_command_type_is_listed() -> None:
    schema = command_adapter().json_schema()
    tags = set(schema["discriminator"]["mapping"])
    assert tags == set(COMMAND_TYPES)


def test_oversized_payload_refused() -> None:
    with pytest.raises(InvalidCommand) as info:
        parse_command(b'{"type":"set","power":true,"pad":"' + b"x" * 300_000 + b'"}')
    assert info.value.code == "payload_too_large"
