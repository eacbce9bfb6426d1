"""Request and response bodies of the release and rollout API.

What a device receives is the update agent's own :class:`~lightbox.edge.update.UpdateOffer`
and what it reports its :class:`~lightbox.edge.update.UpdateStatus`: one contract for
both sides.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lightbox.cloud.schemas import DeviceId, Name

RolloutState = Literal["active", "paused", "halted", "completed"]
Percentage = Annotated[int, Field(ge=1, le=100)]


class ReleaseIn(BaseModel):
    """An artifact already uploaded with ``lightbox release publish``."""

    model_config = ConfigDict(extra="forbid")

    storage_key: str = Field(
        min_length=1,
        max_length=512,
        description="Its key in release storage (publish prints it: releases/<v>/...).",
    )
    sha256: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        description="The sha256 publish printed; refused when the stored object differs.",
    )


class ReleaseOut(BaseModel):
    id: uuid.UUID
    version: str
    channel: str
    hardware: list[str]
    size: int
    sha256: str
    storage_key: str
    key_id: str
    min_from_version: str | None
    created_at: datetime
    yanked: bool


class RolloutIn(BaseModel):
    """Offer a release to a channel (a percentage of its devices) or to a device group."""

    model_config = ConfigDict(extra="forbid")

    release_id: uuid.UUID
    channel: str | None = Field(
        default=None, description="Target channel (default: the release's); not with group."
    )
    group: str | None = Field(default=None, description="Target device group, by name.")
    steps: list[Percentage] = Field(
        default_factory=lambda: [1, 10, 50, 100],
        min_length=1,
        max_length=20,
        description="Percentages, widened one at a time; the first is where it starts.",
    )
    percentage: Percentage | None = Field(
        default=None, description="Start here instead of at the first step."
    )
    failure_threshold: float = Field(
        default=0.2, ge=0, lt=1, description="Halt above this fraction failed in a step."
    )
    min_sample: int = Field(
        default=5, ge=1, le=100_000, description="Attempts needed in a step before judging."
    )

    @model_validator(mode="after")
    def _target(self) -> RolloutIn:
        if self.group is not None and self.channel is not None:
            raise ValueError("give a channel or a group, not both")
        self.steps = sorted(set(self.steps))
        return self


class WidenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    percentage: Percentage | None = Field(
        default=None, description="Default: the next of the rollout's steps."
    )


class RolloutOut(BaseModel):
    id: uuid.UUID
    release_id: uuid.UUID
    version: str
    channel: str | None
    group: str | None
    percentage: int
    steps: list[int]
    step: int
    failure_threshold: float
    min_sample: int
    state: RolloutState
    halted_reason: str | None
    created_at: datetime
    updated_at: datetime
    counts: dict[str, int] = Field(
        default_factory=dict, description="Devices of this rollout by update state."
    )


class GroupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    devices: list[DeviceId] = Field(default_factory=list, max_length=10_000)


class GroupMembers(BaseModel):
    model_config = ConfigDict(extra="forbid")

    devices: list[DeviceId] = Field(max_length=10_000)


class GroupOut(BaseModel):
    id: uuid.UUID
    name: str
    devices: list[str]
    created_at: datetime


class DeviceUpdateOut(BaseModel):
    """A device's progress with one release (owner-facing)."""

    version: str
    state: str
    attempts: int
    last_error: str | None
    updated_at: datetime


class DeviceUpdatesOut(BaseModel):
    device_id: str
    version: str = Field(description="The version the device last said it runs.")
    updates: list[DeviceUpdateOut] = Field(description="Newest release first.")


class StatusAck(BaseModel):
    stored: bool
    rollout_state: RolloutState | None = None


def manifest_field(manifest: dict[str, Any], name: str) -> str | None:
    value = manifest.get(name)
    return value if isinstance(value, str) else None


__all__ = [
    "DeviceUpdateOut",
    "DeviceUpdatesOut",
    "GroupIn",
    "GroupMembers",
    "GroupOut",
    "ReleaseIn",
    "ReleaseOut",
    "RolloutIn",
    "RolloutOut",
    "RolloutState",
    "StatusAck",
    "WidenIn",
]
