"""Helpers shared by the route modules."""

from __future__ import annotations

from fastapi import Response

from lightbox.edge.api.problems import check
from lightbox.edge.service import LightBoxService
from lightbox.protocol import Command, CommandResult, NotFound

ORIGIN = "rest"


async def execute(service: LightBoxService, command: Command) -> CommandResult:
    """Run ``command``; a failure becomes a problem response (with the command's id)."""
    return check(await service.execute(command, origin=ORIGIN))


def set_version(response: Response, version: int | None) -> None:
    """Tag the response with the state version (``ETag: "<version>"``)."""
    if version is not None:
        response.headers["ETag"] = f'"{version}"'


def item_id(value: str, field: str) -> str:
    """A path id that a command can carry (1..64 characters), else a 404."""
    if not 1 <= len(value) <= 64:
        raise NotFound(f"there is no item with the id {value[:70]!r}", field=field)
    return value
