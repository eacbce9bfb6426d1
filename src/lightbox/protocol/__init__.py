"""The LightBox wire contract: every message shape, shared by every transport.

Nothing outside this package defines a message. Transports parse with
:func:`parse_command`, apply, and answer with :class:`CommandResult`.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from lightbox.protocol.catalog import EFFECTS, PALETTES, EffectInfo, PaletteInfo, ParamSpec
from lightbox.protocol.color import RGB, Color, parse_color
from lightbox.protocol.commands import (
    COMMAND_TYPES,
    Command,
    IdentifyCommand,
    PlaylistDeleteCommand,
    PlaylistSaveCommand,
    PlaylistStartCommand,
    PlaylistStepCommand,
    PlaylistStopCommand,
    PresetApplyCommand,
    PresetDeleteCommand,
    PresetSaveCommand,
    ScheduleDeleteCommand,
    ScheduleSaveCommand,
    SetCommand,
    SettingsCommand,
    command_adapter,
)
from lightbox.protocol.errors import (
    Conflict,
    ErrorCode,
    ErrorInfo,
    InvalidCommand,
    LightBoxError,
    NotFound,
    Unavailable,
    from_validation_error,
)
from lightbox.protocol.fonts import FONT_NAMES
from lightbox.protocol.library import (
    Playlist,
    PlaylistEntry,
    Preset,
    Schedule,
    SunTrigger,
    TimeTrigger,
)
from lightbox.protocol.scenes import (
    ClockScene,
    EffectScene,
    GifScene,
    ImageScene,
    Layer,
    LayersScene,
    Scene,
    SolidScene,
    StreamScene,
    TextScene,
    Transition,
)
from lightbox.protocol.settings import MatrixSettings, OutputSettings, PowerSettings, Settings
from lightbox.protocol.state import (
    Catalog,
    CommandResult,
    DeviceInfo,
    PlaylistStatus,
    ScheduleStatus,
    State,
    Stats,
)

MAX_COMMAND_BYTES = 256 * 1024


def parse_command(payload: bytes | str | dict[str, Any]) -> Command:
    """Parse and validate one command from raw bytes, text or decoded JSON.

    Raises :class:`InvalidCommand` (code ``invalid_json``, ``invalid_command`` or
    ``unknown_command``) naming the field at fault.
    """
    if isinstance(payload, bytes | str):
        if len(payload) > MAX_COMMAND_BYTES:
            raise InvalidCommand(
                f"command is {len(payload)} bytes; at most {MAX_COMMAND_BYTES} are allowed",
                code="payload_too_large",
            )
        try:
            data = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
            raise InvalidCommand(f"not valid JSON: {err}", code="invalid_json") from err
    else:
        data = payload
    if not isinstance(data, dict):
        raise InvalidCommand("a command is a JSON object with a 'type'", code="invalid_command")
    if "type" not in data:
        raise InvalidCommand(
            f"a command needs a 'type': one of {', '.join(COMMAND_TYPES)}",
            code="invalid_command",
            field="type",
        )
    if data["type"] not in COMMAND_TYPES:
        raise InvalidCommand(
            f"unknown command type {data['type']!r}; allowed: {', '.join(COMMAND_TYPES)}",
            code="unknown_command",
            field="type",
        )
    try:
        command: Command = command_adapter().validate_python(data)
    except ValidationError as err:
        raise from_validation_error(err, data=data) from err
    return command


def command_id_of(payload: bytes | str | dict[str, Any]) -> str | None:
    """Best-effort ``id`` of a payload that may be invalid (to address the error reply)."""
    try:
        data = json.loads(payload) if isinstance(payload, bytes | str) else payload
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    if isinstance(data, dict):
        value = data.get("id")
        if isinstance(value, str) and 0 < len(value) <= 64:
            return value
    return None


__all__ = [
    "COMMAND_TYPES",
    "EFFECTS",
    "FONT_NAMES",
    "MAX_COMMAND_BYTES",
    "PALETTES",
    "RGB",
    "Catalog",
    "ClockScene",
    "Color",
    "Command",
    "CommandResult",
    "Conflict",
    "DeviceInfo",
    "EffectInfo",
    "EffectScene",
    "ErrorCode",
    "ErrorInfo",
    "GifScene",
    "IdentifyCommand",
    "ImageScene",
    "InvalidCommand",
    "Layer",
    "LayersScene",
    "LightBoxError",
    "MatrixSettings",
    "NotFound",
    "OutputSettings",
    "PaletteInfo",
    "ParamSpec",
    "Playlist",
    "PlaylistDeleteCommand",
    "PlaylistEntry",
    "PlaylistSaveCommand",
    "PlaylistStartCommand",
    "PlaylistStatus",
    "PlaylistStepCommand",
    "PlaylistStopCommand",
    "PowerSettings",
    "Preset",
    "PresetApplyCommand",
    "PresetDeleteCommand",
    "PresetSaveCommand",
    "Scene",
    "Schedule",
    "ScheduleDeleteCommand",
    "ScheduleSaveCommand",
    "ScheduleStatus",
    "SetCommand",
    "Settings",
    "SettingsCommand",
    "SolidScene",
    "State",
    "Stats",
    "StreamScene",
    "SunTrigger",
    "TextScene",
    "TimeTrigger",
    "Transition",
    "Unavailable",
    "command_id_of",
    "from_validation_error",
    "parse_color",
    "parse_command",
]
