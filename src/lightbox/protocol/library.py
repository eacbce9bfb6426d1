"""Presets (named scenes), playlists (presets with durations) and schedules (time rules)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from lightbox.protocol.actions import ScheduleAction
from lightbox.protocol.base import WireModel
from lightbox.protocol.scenes import Scene, Transition
from lightbox.protocol.timezones import check_timezone

ItemId = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$",
        description="Lower-case letters, digits, '-' and '_'; at most 64.",
        examples=["evening-glow"],
    ),
]

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Preset(WireModel):
    """A named scene, optionally with its own brightness and transition."""

    id: ItemId
    name: str = Field(min_length=1, max_length=64)
    scene: Scene
    brightness: int | None = Field(default=None, ge=0, le=255)
    transition: Transition | None = None


class PlaylistEntry(WireModel):
    preset: ItemId
    duration_s: float = Field(default=30.0, ge=0.5, le=86_400.0)
    transition: Transition | None = Field(default=None, description="None: the preset's.")


class Playlist(WireModel):
    """Presets shown one after another."""

    id: ItemId
    name: str = Field(min_length=1, max_length=64)
    entries: tuple[PlaylistEntry, ...] = Field(min_length=1, max_length=250)
    repeat: int = Field(default=0, ge=0, le=10_000, description="Passes; 0: forever.")
    shuffle: bool = False
    end: Literal["stay", "off"] = Field(
        default="stay", description="After the last pass: keep the last scene, or power off."
    )


_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$")


class TimeTrigger(WireModel):
    type: Literal["time"] = "time"
    at: str = Field(description="Local time 'HH:MM' or 'HH:MM:SS'.", examples=["07:30"])

    @field_validator("at")
    @classmethod
    def _check_at(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError(f"time {value!r} is not HH:MM or HH:MM:SS (00:00..23:59:59)")
        return value

    def seconds(self) -> int:
        match = _HHMM.match(self.at)
        assert match is not None
        return int(match[1]) * 3600 + int(match[2]) * 60 + int(match[3] or 0)


class SunTrigger(WireModel):
    """Sunrise or sunset at the device's location (settings.location must be set)."""

    type: Literal["sun"] = "sun"
    event: Literal["sunrise", "sunset"]
    offset_min: int = Field(default=0, ge=-720, le=720)


Trigger = Annotated[TimeTrigger | SunTrigger, Field(discriminator="type")]


class Schedule(WireModel):
    """Do ``action`` when ``trigger`` fires on one of ``days``, in ``timezone``."""

    id: ItemId
    name: str = Field(min_length=1, max_length=64)
    enabled: bool = True
    trigger: Trigger
    days: tuple[Weekday, ...] = Field(default=WEEKDAYS, min_length=1, max_length=7)
    timezone: str | None = Field(default=None, description="IANA zone; None: the device's.")
    action: ScheduleAction

    @model_validator(mode="after")
    def _check(self) -> Schedule:
        if len(set(self.days)) != len(self.days):
            raise ValueError("days lists a weekday twice")
        if self.timezone is not None:
            check_timezone(self.timezone)
        return self
