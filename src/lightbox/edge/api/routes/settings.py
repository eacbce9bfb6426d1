"""Settings: read, replace (PUT) or merge-patch (PATCH); both writes are ``settings.set``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import ValidationError

from lightbox.edge.api.deps import ServiceDep
from lightbox.edge.api.routes._common import execute
from lightbox.protocol import Settings, SettingsCommand, from_validation_error

router = APIRouter(prefix="/settings", tags=["settings"])

MERGE_PATCH = "application/merge-patch+json"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: ``patch`` applied to ``target`` (neither is changed)."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def patch_settings_dump(current: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """``patch`` applied to the settings ``current``.

    One addition to RFC 7396: a ``driver`` whose ``name`` differs from the current one
    replaces it instead of merging into it, since one driver's fields mean nothing to
    another (``{"driver": {"name": "ddp", "host": "wled.local"}}`` just works).
    """
    driver = patch.get("driver")
    if isinstance(driver, dict) and driver.get("name") not in (None, current["driver"]["name"]):
        current = {**current, "driver": {}}
    merged: dict[str, Any] = merge_patch(current, patch)
    return merged


@router.get("", summary="The settings")
async def get_settings(service: ServiceDep) -> Settings:
    return service.settings


@router.put("", summary="Replace the settings")
async def put_settings(service: ServiceDep, settings: Settings) -> Settings:
    await execute(service, SettingsCommand(settings=settings))
    return service.settings


@router.patch("", summary="Change some settings (JSON merge patch, RFC 7396)")
async def patch_settings(
    service: ServiceDep,
    patch: Annotated[
        dict[str, Any],
        Body(
            media_type=MERGE_PATCH,
            description="Fields to change; null removes a field (back to its default).",
            examples=[{"name": "Kitchen", "output": {"fps": 30}}],
        ),
    ],
) -> Settings:
    current = service.settings.model_dump(mode="json", by_alias=True)
    merged = patch_settings_dump(current, patch)
    try:
        settings = Settings.model_validate(merged)
    except ValidationError as err:
        raise from_validation_error(err, data=merged) from err
    await execute(service, SettingsCommand(settings=settings))
    return service.settings
