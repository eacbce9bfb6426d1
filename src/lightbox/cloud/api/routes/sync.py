"""A device's synced state in the cloud, its telemetry, and the fleet summary.

``GET /devices/{id}/synced``      the merged view (state, settings, presets, playlists,
                                  schedules) and when the device last synced
``PATCH /devices/{id}/synced``    edit the cloud copy (a partial view); delivered to the
                                  device now, or when it comes back
``GET /devices/{id}/telemetry``   samples downsampled into buckets (``since``, ``until``,
                                  ``bucket`` seconds)
``GET /fleet/summary``            the caller's devices: online, versions, fps, power

Owner only: a device that is not the caller's is a 404, like every device route.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, Field

from lightbox.cloud.api.deps import ServicesDep, UserDep
from lightbox.cloud.devices import Devices
from lightbox.cloud.errors import InvalidRequest
from lightbox.cloud.schemas import Body as RequestBody
from lightbox.cloud.sync.queries import fleet_summary, pick_bucket, telemetry_points
from lightbox.cloud.sync.repo import Synced, SyncRepo
from lightbox.sync import DEVICE, SyncValidationError, document_view, empty_view

router = APIRouter(
    tags=["sync"],
    responses={401: {"description": "Not signed in"}},
)
NOT_YOURS: dict[int | str, dict[str, Any]] = {404: {"description": "No such device among yours"}}


class SyncedOut(BaseModel):
    device_id: str
    view: dict[str, Any] = Field(
        description="state, settings, presets, playlists, schedules as merged in the cloud"
    )
    last_sync_at: datetime | None = Field(description="When a delta from the device was merged")
    updated_at: datetime | None
    pending: int = Field(description="Cloud edits the device has not acknowledged yet")
    device_pending: bool = Field(description="Cloud edits waiting to be sent")
    last_error: str | None = None


class SyncedPatch(RequestBody):
    """A partial view: fields replace; settings merge per sub-object; collection entries
    replace whole; an entry set to null is deleted."""

    state: dict[str, Any] | None = None
    settings: dict[str, Any] | None = None
    presets: dict[str, dict[str, Any] | None] | None = None
    playlists: dict[str, dict[str, Any] | None] | None = None
    schedules: dict[str, dict[str, Any] | None] | None = None


class TelemetryPoint(BaseModel):
    at: datetime = Field(description="Start of the bucket (UTC)")
    samples: int
    fields: dict[str, float] = Field(
        description="Mean per bucket; counters (uptime_s, dropped_frames, commands, errors, "
        "sync_refused) their maximum"
    )


class TelemetryOut(BaseModel):
    device_id: str
    since: datetime
    until: datetime
    bucket_s: int
    points: list[TelemetryPoint]


class FleetSummaryOut(BaseModel):
    devices: int
    online: int
    versions: dict[str, int]
    reporting: int = Field(description="Devices with a telemetry sample in the last 15 min")
    avg_fps: float | None
    total_estimated_ma: float
    total_estimated_w: float = Field(description="At 5 V")
    synced: int = Field(description="Devices that synced at least once")
    last_sync_at: datetime | None


def _out(synced: Synced | None, device_id: str) -> SyncedOut:
    if synced is None:
        return SyncedOut(
            device_id=device_id,
            view=dict(empty_view()),
            last_sync_at=None,
            updated_at=None,
            pending=0,
            device_pending=False,
        )
    acked = synced.marks.acked
    pending = sum(
        1
        for reg in synced.document.registers.values()
        if reg.ts.origin != DEVICE and (acked is None or reg.ts > acked)
    )
    return SyncedOut(
        device_id=device_id,
        view=dict(document_view(synced.document)),
        last_sync_at=synced.last_sync_at,
        updated_at=synced.updated_at,
        pending=pending,
        device_pending=synced.pending_down,
        last_error=synced.last_error,
    )


async def _own(services: ServicesDep, user: UserDep, device_id: str) -> None:
    async with services.sessionmaker() as session:
        await Devices.owned(session, user.user_id, device_id)


@router.get(
    "/devices/{device_id}/synced",
    summary="The device's state as merged in the cloud, and when it last synced",
    responses=NOT_YOURS,
)
async def get_synced(device_id: str, services: ServicesDep, user: UserDep) -> SyncedOut:
    await _own(services, user, device_id)
    repo = SyncRepo(services.sessionmaker, clock=services.clock)
    return _out(await repo.get(device_id), device_id)


@router.patch(
    "/devices/{device_id}/synced",
    summary="Change the cloud copy (delivered to the device now or when it returns)",
    responses={**NOT_YOURS, 422: {"description": "The result would not be valid"}},
)
async def patch_synced(
    device_id: str,
    body: Annotated[SyncedPatch, Body()],
    services: ServicesDep,
    user: UserDep,
) -> SyncedOut:
    await _own(services, user, device_id)
    repo = SyncRepo(services.sessionmaker, clock=services.clock)
    try:
        synced, _ = await repo.edit(device_id, body.model_dump(exclude_none=True))
    except SyncValidationError as err:
        key = err.keys[0] if err.keys else None
        raise InvalidRequest(str(err), field=key) from err
    return _out(synced, device_id)


@router.get(
    "/devices/{device_id}/telemetry",
    summary="The device's telemetry over time, downsampled",
    responses=NOT_YOURS,
)
async def get_telemetry(
    device_id: str,
    services: ServicesDep,
    user: UserDep,
    since: Annotated[datetime | None, Query(description="Default: 24 h before until")] = None,
    until: Annotated[datetime | None, Query(description="Default: now")] = None,
    bucket: Annotated[
        int | None, Query(ge=1, le=30 * 86400, description="Bucket in seconds (default: auto)")
    ] = None,
) -> TelemetryOut:
    await _own(services, user, device_id)
    end = until or services.clock()
    start = since or end - timedelta(hours=24)
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidRequest("since and until need a time zone (e.g. Z)", field="since")
    if start >= end:
        raise InvalidRequest("since must be before until", field="since")
    bucket_s = pick_bucket(start, end, bucket)
    async with services.sessionmaker() as session:
        points = await telemetry_points(session, device_id, start, end, bucket_s)
    return TelemetryOut(
        device_id=device_id,
        since=start,
        until=end,
        bucket_s=bucket_s,
        points=[TelemetryPoint(at=p.at, samples=p.samples, fields=p.fields) for p in points],
    )


@router.get("/fleet/summary", summary="Your devices at a glance")
async def get_fleet_summary(services: ServicesDep, user: UserDep) -> FleetSummaryOut:
    async with services.sessionmaker() as session:
        summary = await fleet_summary(session, user.user_id, services.clock())
    return FleetSummaryOut(
        devices=summary.devices,
        online=summary.online,
        versions=summary.versions,
        reporting=summary.reporting,
        avg_fps=summary.avg_fps,
        total_estimated_ma=summary.total_estimated_ma,
        total_estimated_w=summary.total_estimated_w,
        synced=summary.synced,
        last_sync_at=summary.last_sync_at,
    )
