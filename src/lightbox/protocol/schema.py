"""The JSON Schema of the whole wire contract (``lightbox schema``)."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter
from pydantic.json_schema import models_json_schema

from lightbox import __version__


def json_schema() -> dict[str, Any]:
    """One JSON Schema document with every message shape under ``$defs``."""
    from lightbox.protocol import (
        Catalog,
        Command,
        CommandResult,
        DeviceInfo,
        Playlist,
        Preset,
        Scene,
        Schedule,
        Settings,
        State,
        Stats,
    )

    reported = (State, CommandResult, Stats, Catalog, DeviceInfo)
    command_schema = TypeAdapter(Command).json_schema(ref_template="#/$defs/{model}")
    scene_schema = TypeAdapter(Scene).json_schema(ref_template="#/$defs/{model}")
    _, top = models_json_schema(
        [
            (m, "serialization" if m in reported else "validation")
            for m in (*reported, Settings, Preset, Playlist, Schedule)
        ],
        ref_template="#/$defs/{model}",
    )
    defs: dict[str, Any] = dict(top.get("$defs", {}))
    defs.update(command_schema.pop("$defs", {}))
    defs.update(scene_schema.pop("$defs", {}))
    defs["Command"] = command_schema
    defs["Scene"] = scene_schema
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://lightbox.invalid/schema/{__version__}",
        "title": "LightBox wire contract",
        "description": "Commands, state, settings, presets, playlists and schedules.",
        "$defs": dict(sorted(defs.items())),
    }
