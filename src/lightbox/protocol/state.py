"""What a LightBox reports: its state, command results and live statistics."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from lightbox.protocol.base import WireModel
from lightbox.protocol.catalog import EffectInfo, PaletteInfo
from lightbox.protocol.errors import ErrorInfo
from lightbox.protocol.scenes import EffectScene, Scene, Transition


class PlaylistStatus(WireModel):
    playlist: str
    index: int = Field(ge=0, description="Position in the play order.")
    preset: str
    pass_: int = Field(default=0, ge=0, alias="pass", description="Completed passes.")
    order: tuple[int, ...] = Field(description="Entry indexes in play order (shuffled or not).")
    started_at: datetime = Field(description="When the current entry started (UTC).")
    next_at: datetime | None = Field(description="When the next entry starts (UTC).")


class ScheduleStatus(WireModel):
    last_fired: str | None = Field(default=None, description="Id of the last rule that fired.")
    last_fired_at: datetime | None = None
    next: str | None = Field(default=None, description="Id of the next rule to fire.")
    next_at: datetime | None = None


class State(WireModel):
    """The state a LightBox reports after every change (retained on MQTT)."""

    power: bool = True
    brightness: int = Field(default=128, ge=0, le=255)
    scene: Scene = EffectScene(effect="rainbow")
    transition: Transition = Transition()
    preset: str | None = Field(default=None, description="Preset last applied, if unchanged.")
    playlist: PlaylistStatus | None = None
    schedule: ScheduleStatus = ScheduleStatus()
    version: int = Field(default=0, ge=0, description="Increases with every change.")


class CommandResult(WireModel):
    """The answer to every command received, invalid ones included."""

    id: str | None = None
    ok: bool
    error: ErrorInfo | None = None
    version: int | None = Field(default=None, description="State version after the command.")


class Stats(WireModel):
    """Render-loop counters."""

    fps: float = Field(ge=0, description="Frames shown per second, recent average.")
    target_fps: int = Field(ge=1)
    rendered: int = Field(ge=0)
    shown: int = Field(ge=0)
    dropped: int = Field(ge=0, description="Frames the driver could not take in time.")
    render_ms_p50: float = Field(ge=0)
    render_ms_p99: float = Field(ge=0)
    estimated_ma: float = Field(ge=0, description="Estimated LED current now, mA.")
    power_limited: bool = False


class Catalog(WireModel):
    """Effects, palettes and fonts a LightBox offers."""

    effects: tuple[EffectInfo, ...]
    palettes: tuple[PaletteInfo, ...]
    fonts: tuple[str, ...]


class DeviceInfo(WireModel):
    """Public facts about a LightBox (no token needed to read them)."""

    id: str
    name: str
    version: str
    width: int
    height: int
    driver: str
    uptime_s: float = Field(ge=0)
    fps: float = Field(ge=0)
    target_fps: int = Field(ge=1)
    dropped_frames: int = Field(ge=0)
    estimated_ma: float = Field(ge=0)
    power_limited: bool = False
    mqtt_connected: bool = False
    paired: bool = False
