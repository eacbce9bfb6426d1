"""Commands: everything a LightBox can be told, on every transport.

Each command is a JSON object tagged by ``type``. ``id`` is optional; when present a
LightBox applies a given id once and answers a repeated one with the first result.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter

from lightbox.protocol.actions import (
    CommandId,
    IdentifyCommand,
    PlaylistStartCommand,
    PlaylistStepCommand,
    PlaylistStopCommand,
    PresetApplyCommand,
    SetCommand,
    _Command,
)
from lightbox.protocol.library import Playlist, Preset, Schedule
from lightbox.protocol.settings import Settings

__all__ = [
    "COMMAND_TYPES",
    "Command",
    "CommandId",
    "IdentifyCommand",
    "PlaylistDeleteCommand",
    "PlaylistSaveCommand",
    "PlaylistStartCommand",
    "PlaylistStepCommand",
    "PlaylistStopCommand",
    "PresetApplyCommand",
    "PresetDeleteCommand",
    "PresetSaveCommand",
    "ScheduleDeleteCommand",
    "ScheduleSaveCommand",
    "SetCommand",
    "SettingsCommand",
    "command_adapter",
]


class PresetSaveCommand(_Command):
    """Create or replace a preset."""

    type: Literal["preset.save"] = "preset.save"
    preset: Preset


class PresetDeleteCommand(_Command):
    type: Literal["preset.delete"] = "preset.delete"
    preset: str = Field(min_length=1, max_length=64)


class PlaylistSaveCommand(_Command):
    type: Literal["playlist.save"] = "playlist.save"
    playlist: Playlist


class PlaylistDeleteCommand(_Command):
    type: Literal["playlist.delete"] = "playlist.delete"
    playlist: str = Field(min_length=1, max_length=64)


class ScheduleSaveCommand(_Command):
    type: Literal["schedule.save"] = "schedule.save"
    schedule: Schedule


class ScheduleDeleteCommand(_Command):
    type: Literal["schedule.delete"] = "schedule.delete"
    schedule: str = Field(min_length=1, max_length=64)


class SettingsCommand(_Command):
    """Replace the settings (the REST API also offers a merge-patch that ends here)."""

    type: Literal["settings.set"] = "settings.set"
    settings: Settings


Command = Annotated[
    SetCommand
    | PresetApplyCommand
    | PresetSaveCommand
    | PresetDeleteCommand
    | PlaylistStartCommand
    | PlaylistStopCommand
    | PlaylistStepCommand
    | PlaylistSaveCommand
    | PlaylistDeleteCommand
    | ScheduleSaveCommand
    | ScheduleDeleteCommand
    | SettingsCommand
    | IdentifyCommand,
    Field(discriminator="type"),
]


COMMAND_TYPES: tuple[str, ...] = (
    "set",
    "preset.apply",
    "preset.save",
    "preset.delete",
    "playlist.start",
    "playlist.stop",
    "playlist.step",
    "playlist.save",
    "playlist.delete",
    "schedule.save",
    "schedule.delete",
    "settings.set",
    "identify",
)

_command_adapter: TypeAdapter[Any] | None = None


def command_adapter() -> TypeAdapter[Any]:
    """The validator for a :data:`Command` (built once, on first use)."""
    global _command_adapter
    if _command_adapter is None:
        _command_adapter = TypeAdapter(Command)
    return _command_adapter
