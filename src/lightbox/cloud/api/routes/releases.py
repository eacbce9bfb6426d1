"""Releases and rollouts: admin routes, the device's update routes, the owner's view.

- Admin routes (a signed-in user with ``is_admin``; others get 403): register a release
  already uploaded with ``lightbox release publish`` (verified against the trusted keys),
  device groups, rollouts (create, widen, pause, resume, read with per-state counts).
- Device routes (the registration secret as bearer token, like the claim-code route):
  ``GET /devices/{id}/update`` answers an offer with a presigned URL, or 204;
  ``POST /devices/{id}/update/status`` stores a report (MQTT ``update/status`` does too).
- Owner route: ``GET /devices/{id}/update-status`` (404 for a device that is not yours).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status
from starlette.requests import HTTPConnection

from lightbox.cloud.accounts import Principal
from lightbox.cloud.api.deps import DeviceSecretDep, ServicesDep, UserDep
from lightbox.cloud.errors import Forbidden
from lightbox.cloud.releases import DeviceUpdates, ReleaseAdmin, ReleaseContext
from lightbox.cloud.releases.schemas import (
    DeviceUpdatesOut,
    GroupIn,
    GroupMembers,
    GroupOut,
    ReleaseIn,
    ReleaseOut,
    RolloutIn,
    RolloutOut,
    StatusAck,
    WidenIn,
)
from lightbox.edge.update.agent import UpdateOffer
from lightbox.edge.update.outbox import UpdateStatus

DEVICE_AUTH = {"x-lightbox-auth": "device"}


def get_release_context(conn: HTTPConnection, services: ServicesDep) -> ReleaseContext:
    """One per app (its storage client is reused); built on first use."""
    context: ReleaseContext | None = getattr(conn.app.state, "release_context", None)
    if context is None:
        context = ReleaseContext.for_services(services)
        conn.app.state.release_context = context
    return context


ContextDep = Annotated[ReleaseContext, Depends(get_release_context)]


def require_admin(principal: UserDep) -> Principal:
    if not principal.user.is_admin:
        raise Forbidden(
            "only admins publish releases and steer rollouts (`lightbox cloud admin EMAIL`)",
            field="authorization",
        )
    return principal


AdminDep = Annotated[Principal, Depends(require_admin)]


def get_admin(services: ServicesDep, context: ContextDep) -> ReleaseAdmin:
    return ReleaseAdmin(services, context)


def get_updates(services: ServicesDep, context: ContextDep) -> DeviceUpdates:
    return DeviceUpdates(services, context)


ReleaseAdminDep = Annotated[ReleaseAdmin, Depends(get_admin)]
DeviceUpdatesDep = Annotated[DeviceUpdates, Depends(get_updates)]

ADMIN_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "Not signed in"},
    403: {"description": "Not an admin"},
}
admin = APIRouter(tags=["releases"], responses=ADMIN_ERRORS)
device = APIRouter(prefix="/devices", tags=["device-side"])
owner = APIRouter(prefix="/devices", tags=["devices"])


# -- releases --------------------------------------------------------------------------------


@admin.post(
    "/releases",
    status_code=status.HTTP_201_CREATED,
    summary="Register a published artifact (its signature is verified first)",
    responses={
        409: {"description": "That version is registered already"},
        422: {"description": "Not in storage, tampered, unsigned, untrusted or revoked key"},
    },
)
async def register_release(body: ReleaseIn, releases: ReleaseAdminDep, _: AdminDep) -> ReleaseOut:
    return await releases.register(body)


@admin.get("/releases", summary="Registered releases, newest first")
async def list_releases(
    releases: ReleaseAdminDep,
    _: AdminDep,
    channel: Annotated[str | None, Query(max_length=32)] = None,
) -> list[ReleaseOut]:
    return await releases.list_releases(channel)


# -- device groups ---------------------------------------------------------------------------


@admin.post(
    "/device-groups",
    status_code=status.HTTP_201_CREATED,
    summary="Create a device group (e.g. canaries)",
    responses={409: {"description": "The name is taken"}},
)
async def create_group(body: GroupIn, releases: ReleaseAdminDep, _: AdminDep) -> GroupOut:
    return await releases.create_group(body)


@admin.get("/device-groups", summary="Device groups and their members")
async def list_groups(releases: ReleaseAdminDep, _: AdminDep) -> list[GroupOut]:
    return await releases.list_groups()


@admin.put(
    "/device-groups/{name}/members",
    summary="Replace a group's members",
    responses={404: {"description": "No such group"}},
)
async def set_members(
    name: str, body: GroupMembers, releases: ReleaseAdminDep, _: AdminDep
) -> GroupOut:
    return await releases.set_members(name, body.devices)


# -- rollouts --------------------------------------------------------------------------------

ROLLOUT_ERRORS: dict[int | str, dict[str, str]] = {
    404: {"description": "No such rollout"},
    409: {"description": "Not in a state that allows it"},
}


@admin.post(
    "/rollouts",
    status_code=status.HTTP_201_CREATED,
    summary="Offer a release to a percentage of a channel, or to a device group",
    responses={404: {"description": "No such release or group"}},
)
async def create_rollout(body: RolloutIn, releases: ReleaseAdminDep, _: AdminDep) -> RolloutOut:
    return await releases.create_rollout(body)


@admin.get("/rollouts", summary="Rollouts, newest first")
async def list_rollouts(releases: ReleaseAdminDep, _: AdminDep) -> list[RolloutOut]:
    return await releases.list_rollouts()


@admin.get(
    "/rollouts/{rollout_id}",
    summary="A rollout with its devices counted by update state",
    responses=ROLLOUT_ERRORS,
)
async def get_rollout(rollout_id: uuid.UUID, releases: ReleaseAdminDep, _: AdminDep) -> RolloutOut:
    return await releases.get_rollout(rollout_id)


@admin.post(
    "/rollouts/{rollout_id}/widen",
    summary="Widen to the next step (or to the percentage given)",
    responses=ROLLOUT_ERRORS,
)
async def widen_rollout(
    rollout_id: uuid.UUID, releases: ReleaseAdminDep, _: AdminDep, body: WidenIn | None = None
) -> RolloutOut:
    return await releases.widen(rollout_id, body.percentage if body else None)


@admin.post("/rollouts/{rollout_id}/pause", summary="Stop offering", responses=ROLLOUT_ERRORS)
async def pause_rollout(
    rollout_id: uuid.UUID, releases: ReleaseAdminDep, _: AdminDep
) -> RolloutOut:
    return await releases.pause(rollout_id)


@admin.post(
    "/rollouts/{rollout_id}/resume",
    summary="Offer again after a pause or a halt",
    responses=ROLLOUT_ERRORS,
)
async def resume_rollout(
    rollout_id: uuid.UUID, releases: ReleaseAdminDep, _: AdminDep
) -> RolloutOut:
    return await releases.resume(rollout_id)


# -- the device's side -----------------------------------------------------------------------


@device.get(
    "/{device_id}/update",
    summary="The update offered to this device (a presigned URL), or 204",
    response_model=UpdateOffer,
    responses={
        204: {"description": "Nothing to install"},
        403: {"description": "Not this device's registration secret"},
    },
    openapi_extra=DEVICE_AUTH,
)
async def check_update(
    device_id: str,
    updates: DeviceUpdatesDep,
    secret: DeviceSecretDep,
    version: Annotated[str | None, Query(max_length=64)] = None,
    hardware: Annotated[str | None, Query(max_length=64)] = None,
    channel: Annotated[str, Query(max_length=32)] = "stable",
) -> UpdateOffer | Response:
    offer = await updates.offer(
        device_id, secret, version=version, hardware=hardware, channel=channel
    )
    if offer is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return offer


@device.post(
    "/{device_id}/update/status",
    summary="Report an update state (as on MQTT lightbox/<id>/update/status)",
    responses={403: {"description": "Not this device's registration secret"}},
    openapi_extra=DEVICE_AUTH,
)
async def report_update(
    device_id: str, body: UpdateStatus, updates: DeviceUpdatesDep, secret: DeviceSecretDep
) -> StatusAck:
    return await updates.report(device_id, secret, body)


# -- the owner's side ------------------------------------------------------------------------


@owner.get(
    "/{device_id}/update-status",
    summary="Your device's updates: version, and progress with each release",
    responses={401: {"description": "Not signed in"}, 404: {"description": "Not yours"}},
)
async def update_status(
    device_id: str, updates: DeviceUpdatesDep, principal: UserDep
) -> DeviceUpdatesOut:
    return await updates.status_for_owner(principal.user_id, device_id)


router = APIRouter()
router.include_router(admin)
router.include_router(device)
router.include_router(owner)

__all__ = ["get_release_context", "router"]
