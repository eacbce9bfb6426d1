"""A user's devices: claim, list, read, rename, unclaim, revoke credentials, send commands.

Every route with a ``{device_id}`` answers 404 for a device the caller does not own, so
that nobody learns which ids exist (tests check every route of this module).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Response, status

from lightbox.cloud.api.deps import ClientIP, DevicesDep, UserDep
from lightbox.cloud.schemas import ClaimRequest, DeviceOut, DevicePatch
from lightbox.edge.api.problems import COMMAND_ROUTE, check
from lightbox.protocol import Command, CommandResult

router = APIRouter(
    prefix="/devices",
    tags=["devices"],
    responses={
        401: {"description": "Not signed in"},
        404: {"description": "No such device among yours"},
    },
)


@router.post(
    "/claim",
    summary="Own the LightBox that shows this claim code",
    responses={429: {"description": "Too many attempts"}},
)
async def claim(
    body: ClaimRequest, devices: DevicesDep, principal: UserDep, ip: ClientIP
) -> DeviceOut:
    return await devices.claim(principal.user_id, body.code, ip=ip)


@router.get("", summary="Your devices, with online state, last seen and version")
async def list_devices(devices: DevicesDep, principal: UserDep) -> list[DeviceOut]:
    return await devices.list_owned(principal.user_id)


@router.get("/{device_id}", summary="One of your devices")
async def get_device(device_id: str, devices: DevicesDep, principal: UserDep) -> DeviceOut:
    return await devices.get(principal.user_id, device_id)


@router.patch("/{device_id}", summary="Rename a device")
async def patch_device(
    device_id: str, body: DevicePatch, devices: DevicesDep, principal: UserDep
) -> DeviceOut:
    return await devices.rename(principal.user_id, device_id, body.name)


@router.delete(
    "/{device_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Give up a device (it stays registered; a new claim code can claim it)",
)
async def delete_device(device_id: str, devices: DevicesDep, principal: UserDep) -> Response:
    await devices.unclaim(principal.user_id, device_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{device_id}/credentials/revoke",
    summary="Revoke the device's broker credentials (it re-registers for new ones)",
)
async def revoke_credentials(device_id: str, devices: DevicesDep, principal: UserDep) -> DeviceOut:
    return await devices.revoke_credentials(principal.user_id, device_id)


@router.post(
    "/{device_id}/commands",
    name=COMMAND_ROUTE,
    summary="Relay a command to the device and return its result",
    responses={
        422: {"description": "Invalid command, or the device refused it"},
        503: {"description": "The device is offline"},
        504: {"description": "The device did not answer in time"},
    },
)
async def send_command(
    device_id: str,
    command: Annotated[Command, Body()],
    devices: DevicesDep,
    principal: UserDep,
) -> CommandResult:
    return check(await devices.send(principal.user_id, device_id, command))
