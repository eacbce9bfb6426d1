"""The media library: upload, list, fetch and delete images and GIFs.

An upload is bounded twice: the request body by the app's limit (checked while it streams
in, see :mod:`lightbox.edge.api.limits`) and the file itself by ``max_upload_bytes``. It is
validated and stored by :meth:`MediaLibrary.add` in a worker thread (Pillow work never runs
on the event loop); a refused file stores nothing.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, File, Request, Response, UploadFile, status

from lightbox.edge.api.deps import ServiceDep
from lightbox.edge.events import Event
from lightbox.edge.service import LightBoxService
from lightbox.edge.store import MediaRecord
from lightbox.protocol import LightBoxError, NotFound, SetCommand
from lightbox.protocol.scenes import scene_media

router = APIRouter(prefix="/media", tags=["media"])


@router.get("", summary="Every uploaded media file, oldest first")
async def list_media(service: ServiceDep) -> list[MediaRecord]:
    return await asyncio.to_thread(service.store.list_media)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Upload an image or GIF (multipart field 'file')",
)
async def upload_media(
    service: ServiceDep,
    request: Request,
    file: Annotated[UploadFile, File(description="PNG, JPEG, WebP or GIF.")],
    response: Response,
) -> MediaRecord:
    limit: int = request.app.state.max_upload_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise LightBoxError(
            f"the file is larger than {limit} bytes; upload a smaller one",
            code="media_too_large",
            field="file",
        )
    record = await asyncio.to_thread(service.media.add, file.filename or "upload", data)
    service.events.publish(Event("media", id=record.id))
    response.headers["Location"] = f"/api/v1/media/{record.id}"
    return record


async def _record(service: LightBoxService, media_id: str) -> MediaRecord:
    record = await asyncio.to_thread(service.store.get_media, media_id)
    if record is None:
        raise NotFound(
            f"media {media_id!r} is not in the library", code="media_not_found", field="media_id"
        )
    return record


@router.get("/{media_id}", summary="Metadata of one media file")
async def get_media(service: ServiceDep, media_id: str) -> MediaRecord:
    return await _record(service, media_id)


@router.get(
    "/{media_id}/file",
    summary="The media file itself",
    response_class=Response,
    responses={200: {"content": {"image/*": {}}, "description": "The file's bytes."}},
)
async def get_media_file(service: ServiceDep, media_id: str) -> Response:
    record = await _record(service, media_id)
    data = await asyncio.to_thread(service.media.read, media_id)
    return Response(
        data,
        media_type=record.content_type,
        headers={"ETag": f'"{record.sha256}"', "X-Content-Type-Options": "nosniff"},
    )


def media_users(service: LightBoxService, media_id: str) -> list[str]:
    """What uses ``media_id``: presets, schedule actions and the current scene. Blocking."""
    store = service.store
    users = [f"preset {p.id!r}" for p in store.list_presets() if media_id in scene_media(p.scene)]
    users += [
        f"schedule {s.id!r}"
        for s in store.list_schedules()
        if isinstance(s.action, SetCommand)
        and s.action.scene is not None
        and media_id in scene_media(s.action.scene)
    ]
    if media_id in scene_media(service.state.scene):
        users.append("the current scene")
    return users


def _delete(service: LightBoxService, media_id: str) -> None:
    service.media.delete(media_id, media_users(service, media_id))


@router.delete(
    "/{media_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a media file (409 while a preset, a schedule or the scene uses it)",
)
async def delete_media(service: ServiceDep, media_id: str) -> None:
    await asyncio.to_thread(_delete, service, media_id)
    service.events.publish(Event("media", id=media_id))
