"""Read side for the API: telemetry downsampled into buckets, and the fleet summary."""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from lightbox.cloud.db import Device, DeviceSync, Telemetry

__all__ = [
    "COUNTERS",
    "SUPPLY_VOLTS",
    "FleetSummary",
    "Point",
    "fleet_summary",
    "telemetry_points",
]

COUNTERS = frozenset({"uptime_s", "dropped_frames", "commands", "errors", "sync_refused"})
"""Fields that only grow (per run): a bucket shows their maximum; the others their mean."""
MAX_ROWS = 100_000
MAX_POINTS = 1_000
SUPPLY_VOLTS = 5.0
"""LED matrices run on 5 V: estimated watts = estimated mA x 5 / 1000."""
RECENT = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class Point:
    at: datetime
    samples: int
    fields: dict[str, float]


def pick_bucket(since: datetime, until: datetime, bucket_s: int | None) -> int:
    span = max(1.0, (until - since).total_seconds())
    smallest = math.ceil(span / MAX_POINTS)
    if bucket_s is None:
        bucket_s = max(60, math.ceil(span / 200))
    return max(bucket_s, smallest, 1)


async def telemetry_points(
    session: AsyncSession, device_id: str, since: datetime, until: datetime, bucket_s: int
) -> list[Point]:
    rows = (
        await session.execute(
            select(Telemetry.at, Telemetry.fields)
            .where(Telemetry.device_id == device_id, Telemetry.at >= since, Telemetry.at < until)
            .order_by(Telemetry.at)
            .limit(MAX_ROWS)
        )
    ).all()
    start = since.timestamp()
    buckets: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for at, fields in rows:
        buckets[int((at.timestamp() - start) // bucket_s)].append(fields)
    points: list[Point] = []
    for index in sorted(buckets):
        samples = buckets[index]
        values: dict[str, list[float]] = defaultdict(list)
        for sample in samples:
            for name, value in sample.items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    values[name].append(float(value))
        fields_out = {
            name: (max(vs) if name in COUNTERS else round(sum(vs) / len(vs), 3))
            for name, vs in sorted(values.items())
        }
        at = datetime.fromtimestamp(start + index * bucket_s, UTC)
        points.append(Point(at, len(samples), fields_out))
    return points


@dataclass(frozen=True, slots=True)
class FleetSummary:
    devices: int
    online: int
    versions: dict[str, int]
    reporting: int
    avg_fps: float | None
    total_estimated_ma: float
    total_estimated_w: float
    synced: int
    last_sync_at: datetime | None


async def fleet_summary(session: AsyncSession, user_id: uuid.UUID, now: datetime) -> FleetSummary:
    devices = (await session.scalars(select(Device).where(Device.owner_id == user_id))).all()
    ids = [d.id for d in devices]
    versions: dict[str, int] = defaultdict(int)
    for d in devices:
        versions[d.version] += 1
    fps: list[float] = []
    total_ma = 0.0
    synced = 0
    last_sync: datetime | None = None
    if ids:
        latest = (
            select(Telemetry.device_id, func.max(Telemetry.at).label("at"))
            .where(Telemetry.device_id.in_(ids), Telemetry.at >= now - RECENT)
            .group_by(Telemetry.device_id)
            .subquery()
        )
        rows = (
            await session.execute(
                select(Telemetry.fields).join(
                    latest,
                    (Telemetry.device_id == latest.c.device_id) & (Telemetry.at == latest.c.at),
                )
            )
        ).all()
        for (fields,) in rows:
            if isinstance(fields.get("fps"), int | float):
                fps.append(float(fields["fps"]))
            if isinstance(fields.get("estimated_ma"), int | float):
                total_ma += float(fields["estimated_ma"])
        sync_rows = (
            await session.execute(
                select(DeviceSync.last_sync_at).where(DeviceSync.device_id.in_(ids))
            )
        ).all()
        for (at,) in sync_rows:
            if at is not None:
                synced += 1
                last_sync = at if last_sync is None or at > last_sync else last_sync
    return FleetSummary(
        devices=len(devices),
        online=sum(1 for d in devices if d.online),
        versions=dict(sorted(versions.items())),
        reporting=len(fps),
        avg_fps=round(sum(fps) / len(fps), 2) if fps else None,
        total_estimated_ma=round(total_ma, 1),
        total_estimated_w=round(total_ma * SUPPLY_VOLTS / 1000, 2),
        synced=synced,
        last_sync_at=last_sync,
    )
