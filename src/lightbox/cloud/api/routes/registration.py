"""What a LightBox calls: registration and fresh claim codes (authenticated by the
device's registration secret, not by a user)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from lightbox.cloud.api.deps import ClientIP, DevicesDep, DeviceSecretDep
from lightbox.cloud.schemas import ClaimCodeOut, RegisterRequest, Registration

router = APIRouter(prefix="/devices", tags=["device-side"])


@router.post(
    "/register",
    summary="Register a LightBox (first time: created; again: with its registration secret)",
    responses={
        200: {"description": "Registered again: new broker password"},
        201: {"description": "Registered for the first time"},
        403: {"description": "Known device id, wrong or missing registration secret"},
        429: {"description": "Too many registrations"},
    },
)
async def register(
    body: RegisterRequest, devices: DevicesDep, ip: ClientIP, response: Response
) -> Registration:
    registration, created = await devices.register(body, ip=ip)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return registration


@router.post(
    "/{device_id}/claim-code",
    summary="A new claim code for this device (replaces the previous one)",
    responses={403: {"description": "Not this device's registration secret"}},
    openapi_extra={"x-lightbox-auth": "device"},
)
async def claim_code(device_id: str, devices: DevicesDep, secret: DeviceSecretDep) -> ClaimCodeOut:
    return await devices.new_claim_code(device_id, secret)
