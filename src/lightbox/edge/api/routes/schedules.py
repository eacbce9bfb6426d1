"""Schedules: time-of-day rules. Writes are ``schedule.save`` / ``schedule.delete``."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response, status

from lightbox.edge.api.deps import ServiceDep
from lightbox.edge.api.routes._common import execute, item_id
from lightbox.protocol import (
    Conflict,
    InvalidCommand,
    NotFound,
    Schedule,
    ScheduleDeleteCommand,
    ScheduleSaveCommand,
)

router = APIRouter(prefix="/schedules", tags=["schedules"])


async def _get(service: ServiceDep, schedule_id: str) -> Schedule | None:
    return await asyncio.to_thread(service.store.get_schedule, schedule_id)


@router.get("", summary="Every schedule, by name")
async def list_schedules(service: ServiceDep) -> list[Schedule]:
    return await asyncio.to_thread(service.store.list_schedules)


@router.post(
    "", status_code=status.HTTP_201_CREATED, summary="Create a schedule (409 if the id exists)"
)
async def create_schedule(service: ServiceDep, schedule: Schedule, response: Response) -> Schedule:
    if await _get(service, schedule.id) is not None:
        raise Conflict(
            f"schedule {schedule.id!r} exists; PUT /api/v1/schedules/{schedule.id} replaces it",
            field="id",
        )
    await execute(service, ScheduleSaveCommand(schedule=schedule))
    response.headers["Location"] = f"/api/v1/schedules/{schedule.id}"
    return schedule


@router.get("/{schedule_id}", summary="One schedule")
async def get_schedule(service: ServiceDep, schedule_id: str) -> Schedule:
    schedule = await _get(service, schedule_id)
    if schedule is None:
        raise NotFound(f"schedule {schedule_id!r} does not exist", field="schedule_id")
    return schedule


@router.put(
    "/{schedule_id}",
    summary="Create or replace a schedule (201 when created)",
    responses={201: {"description": "Created", "model": Schedule}},
)
async def put_schedule(
    service: ServiceDep, schedule_id: str, schedule: Schedule, response: Response
) -> Schedule:
    if schedule.id != schedule_id:
        raise InvalidCommand(
            f"the body's id {schedule.id!r} differs from the path's {schedule_id!r}; "
            "make them equal",
            field="id",
        )
    existed = await _get(service, schedule_id) is not None
    await execute(service, ScheduleSaveCommand(schedule=schedule))
    if not existed:
        response.status_code = status.HTTP_201_CREATED
    return schedule


@router.delete(
    "/{schedule_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a schedule"
)
async def delete_schedule(service: ServiceDep, schedule_id: str) -> None:
    await execute(service, ScheduleDeleteCommand(schedule=item_id(schedule_id, "schedule_id")))
