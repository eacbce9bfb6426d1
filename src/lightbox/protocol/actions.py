"""Commands that change what is shown: also the actions a schedule may take."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictBool, model_validator

from lightbox.protocol.base import WireModel
from lightbox.protocol.scenes import Scene, Transition

CommandId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[\x21-\x7e]+$",
        description="Idempotency key: printable ASCII, no spaces, at most 64.",
    ),
]


class _Command(WireModel):
    id: CommandId | None = None


class SetCommand(_Command):
    """Change power, brightness and/or the scene; fields left out stay as they are."""

    type: Literal["set"] = "set"
    power: StrictBool | None = None
    brightness: int | None = Field(default=None, ge=0, le=255)
    scene: Scene | None = None
    transition: Transition | None = Field(default=None, description="For this change only.")

    @model_validator(mode="after")
    def _not_empty(self) -> SetCommand:
        if self.power is None and self.brightness is None and self.scene is None:
            raise ValueError("a 'set' command needs at least one of power, brightness, scene")
        return self


class PresetApplyCommand(_Command):
    type: Literal["preset.apply"] = "preset.apply"
    preset: str = Field(min_length=1, max_length=64)
    transition: Transition | None = None


class PlaylistStartCommand(_Command):
    type: Literal["playlist.start"] = "playlist.start"
    playlist: str = Field(min_length=1, max_length=64)


class PlaylistStopCommand(_Command):
    type: Literal["playlist.stop"] = "playlist.stop"


class PlaylistStepCommand(_Command):
    """Skip to the next (``step: 1``) or previous (``step: -1``) entry."""

    type: Literal["playlist.step"] = "playlist.step"
    step: Literal[-1, 1] = 1


class IdentifyCommand(_Command):
    """Flash the matrix so a person can tell which LightBox this is."""

    type: Literal["identify"] = "identify"
    duration_s: float = Field(default=3.0, ge=0.5, le=60.0)


ScheduleAction = Annotated[
    SetCommand | PresetApplyCommand | PlaylistStartCommand | PlaylistStopCommand,
    Field(discriminator="type"),
]
"""What a schedule may do when it fires."""
