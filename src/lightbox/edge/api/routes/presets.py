"""Presets: named scenes. Writes are ``preset.save`` / ``preset.delete`` commands."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Body, Response, status

from lightbox.edge.api.deps import ServiceDep
from lightbox.edge.api.routes._common import execute, item_id, set_version
from lightbox.protocol import (
    CommandResult,
    Conflict,
    InvalidCommand,
    NotFound,
    Preset,
    PresetApplyCommand,
    PresetDeleteCommand,
    PresetSaveCommand,
    Transition,
)

router = APIRouter(prefix="/presets", tags=["presets"])


async def _get(service: ServiceDep, preset_id: str) -> Preset | None:
    return await asyncio.to_thread(service.store.get_preset, preset_id)


@router.get("", summary="Every preset, by name")
async def list_presets(service: ServiceDep) -> list[Preset]:
    return await asyncio.to_thread(service.store.list_presets)


@router.post(
    "", status_code=status.HTTP_201_CREATED, summary="Create a preset (409 if the id exists)"
)
async def create_preset(service: ServiceDep, preset: Preset, response: Response) -> Preset:
    if await _get(service, preset.id) is not None:
        raise Conflict(
            f"preset {preset.id!r} exists; PUT /api/v1/presets/{preset.id} replaces it",
            field="id",
        )
    await execute(service, PresetSaveCommand(preset=preset))
    response.headers["Location"] = f"/api/v1/presets/{preset.id}"
    return preset


@router.get("/{preset_id}", summary="One preset")
async def get_preset(service: ServiceDep, preset_id: str) -> Preset:
    preset = await _get(service, preset_id)
    if preset is None:
        raise NotFound(f"preset {preset_id!r} does not exist", field="preset_id")
    return preset


@router.put(
    "/{preset_id}",
    summary="Create or replace a preset (201 when created)",
    responses={201: {"description": "Created", "model": Preset}},
)
async def put_preset(
    service: ServiceDep, preset_id: str, preset: Preset, response: Response
) -> Preset:
    if preset.id != preset_id:
        raise InvalidCommand(
            f"the body's id {preset.id!r} differs from the path's {preset_id!r}; make them equal",
            field="id",
        )
    existed = await _get(service, preset_id) is not None
    await execute(service, PresetSaveCommand(preset=preset))
    if not existed:
        response.status_code = status.HTTP_201_CREATED
    return preset


@router.delete("/{preset_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a preset")
async def delete_preset(service: ServiceDep, preset_id: str) -> None:
    await execute(service, PresetDeleteCommand(preset=item_id(preset_id, "preset_id")))


@router.post("/{preset_id}/apply", summary="Show a preset")
async def apply_preset(
    service: ServiceDep,
    preset_id: str,
    response: Response,
    transition: Annotated[Transition | None, Body(embed=True)] = None,
) -> CommandResult:
    command = PresetApplyCommand(preset=item_id(preset_id, "preset_id"), transition=transition)
    result = await execute(service, command)
    set_version(response, result.version)
    return result
