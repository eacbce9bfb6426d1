"""Playlists (presets shown one after another) and the running playlist.

Writes are ``playlist.save`` / ``playlist.delete``; ``start``, ``stop``, ``next`` and
``previous`` are ``playlist.start``, ``playlist.stop`` and ``playlist.step`` commands.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response, status

from lightbox.edge.api.deps import ServiceDep
from lightbox.edge.api.routes._common import execute, item_id, set_version
from lightbox.protocol import (
    Command,
    CommandResult,
    Conflict,
    InvalidCommand,
    NotFound,
    Playlist,
    PlaylistDeleteCommand,
    PlaylistSaveCommand,
    PlaylistStartCommand,
    PlaylistStepCommand,
    PlaylistStopCommand,
)

router = APIRouter(prefix="/playlists", tags=["playlists"])
running = APIRouter(prefix="/playlist", tags=["playlists"])


async def _get(service: ServiceDep, playlist_id: str) -> Playlist | None:
    return await asyncio.to_thread(service.store.get_playlist, playlist_id)


async def _run(service: ServiceDep, command: Command, response: Response) -> CommandResult:
    result = await execute(service, command)
    set_version(response, result.version)
    return result


@router.get("", summary="Every playlist, by name")
async def list_playlists(service: ServiceDep) -> list[Playlist]:
    return await asyncio.to_thread(service.store.list_playlists)


@router.post(
    "", status_code=status.HTTP_201_CREATED, summary="Create a playlist (409 if the id exists)"
)
async def create_playlist(service: ServiceDep, playlist: Playlist, response: Response) -> Playlist:
    if await _get(service, playlist.id) is not None:
        raise Conflict(
            f"playlist {playlist.id!r} exists; PUT /api/v1/playlists/{playlist.id} replaces it",
            field="id",
        )
    await execute(service, PlaylistSaveCommand(playlist=playlist))
    response.headers["Location"] = f"/api/v1/playlists/{playlist.id}"
    return playlist


@router.get("/{playlist_id}", summary="One playlist")
async def get_playlist(service: ServiceDep, playlist_id: str) -> Playlist:
    playlist = await _get(service, playlist_id)
    if playlist is None:
        raise NotFound(f"playlist {playlist_id!r} does not exist", field="playlist_id")
    return playlist


@router.put(
    "/{playlist_id}",
    summary="Create or replace a playlist (201 when created)",
    responses={201: {"description": "Created", "model": Playlist}},
)
async def put_playlist(
    service: ServiceDep, playlist_id: str, playlist: Playlist, response: Response
) -> Playlist:
    if playlist.id != playlist_id:
        raise InvalidCommand(
            f"the body's id {playlist.id!r} differs from the path's {playlist_id!r}; "
            "make them equal",
            field="id",
        )
    existed = await _get(service, playlist_id) is not None
    await execute(service, PlaylistSaveCommand(playlist=playlist))
    if not existed:
        response.status_code = status.HTTP_201_CREATED
    return playlist


@router.delete(
    "/{playlist_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a playlist"
)
async def delete_playlist(service: ServiceDep, playlist_id: str) -> None:
    await execute(service, PlaylistDeleteCommand(playlist=item_id(playlist_id, "playlist_id")))


@router.post("/{playlist_id}/start", summary="Start a playlist from its first entry")
async def start_playlist(
    service: ServiceDep, playlist_id: str, response: Response
) -> CommandResult:
    command = PlaylistStartCommand(playlist=item_id(playlist_id, "playlist_id"))
    return await _run(service, command, response)


@running.post("/stop", summary="Stop the running playlist (the scene stays)")
async def stop_playlist(service: ServiceDep, response: Response) -> CommandResult:
    return await _run(service, PlaylistStopCommand(), response)


@running.post("/next", summary="Skip to the next entry of the running playlist")
async def next_entry(service: ServiceDep, response: Response) -> CommandResult:
    return await _run(service, PlaylistStepCommand(step=1), response)


@running.post("/previous", summary="Go back to the previous entry of the running playlist")
async def previous_entry(service: ServiceDep, response: Response) -> CommandResult:
    return await _run(service, PlaylistStepCommand(step=-1), response)
