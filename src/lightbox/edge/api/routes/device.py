"""The device itself: info, state, commands, stats, catalogue and the current frame."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Body, Query, Response

from lightbox.edge.api.deps import FramesDep, ServiceDep
from lightbox.edge.api.frames import encode_png
from lightbox.edge.api.problems import COMMAND_ROUTE
from lightbox.edge.api.routes._common import execute, set_version
from lightbox.protocol import (
    EFFECTS,
    FONT_NAMES,
    PALETTES,
    Catalog,
    Command,
    CommandResult,
    DeviceInfo,
    InvalidCommand,
    SetCommand,
    State,
    Stats,
)

MAX_PNG_PIXELS = 2048 * 2048

public = APIRouter(tags=["device"])
router = APIRouter(tags=["device"])


@public.get("/info", summary="Public facts about this LightBox (no token needed)")
async def get_info(service: ServiceDep) -> DeviceInfo:
    return service.info()


@router.get("/state", summary="What the LightBox shows now")
async def get_state(service: ServiceDep, response: Response) -> State:
    state = service.state
    set_version(response, state.version)
    return state


@router.patch(
    "/state",
    summary="Change power, brightness and/or the scene (a 'set' command; 'type' optional)",
)
async def patch_state(
    service: ServiceDep, body: Annotated[SetCommand, Body()], response: Response
) -> CommandResult:
    result = await execute(service, body)
    set_version(response, result.version)
    return result


@router.post(
    "/commands",
    name=COMMAND_ROUTE,
    summary="Run any command (the same ones MQTT and WebSocket take)",
)
async def post_command(
    service: ServiceDep, command: Annotated[Command, Body()], response: Response
) -> CommandResult:
    result = await execute(service, command)
    set_version(response, result.version)
    return result


@router.get("/stats", summary="Render-loop counters")
async def get_stats(service: ServiceDep) -> Stats:
    return service.stats()


@router.get("/catalog", summary="Effects, palettes and fonts this LightBox offers")
async def get_catalog() -> Catalog:
    return Catalog(effects=EFFECTS, palettes=PALETTES, fonts=FONT_NAMES)


@router.get(
    "/frame.png",
    summary="PNG of the frame shown right now",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "The frame, as a PNG."}},
)
async def get_frame_png(
    frames: FramesDep,
    scale: Annotated[int, Query(ge=1, le=32, description="Pixel size (nearest neighbour).")] = 1,
) -> Response:
    frame = await frames.snapshot()
    height, width = frame.shape[0], frame.shape[1]
    if width * height * scale * scale > MAX_PNG_PIXELS:
        raise InvalidCommand(
            f"scale {scale} would make a {width * scale}x{height * scale} image; "
            f"at most {MAX_PNG_PIXELS} pixels: use a smaller scale",
            field="scale",
        )
    png = await asyncio.to_thread(encode_png, frame, scale)
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})
