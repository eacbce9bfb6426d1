"""API tokens: list (never the secret), create (the secret is shown once), revoke."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Response, status
from pydantic import BaseModel, Field

from lightbox.edge.api.deps import ServiceDep
from lightbox.edge.events import Event
from lightbox.edge.service import LightBoxService
from lightbox.edge.store import TokenInfo
from lightbox.protocol import NotFound

router = APIRouter(prefix="/tokens", tags=["tokens"])


class NewToken(BaseModel):
    """A token just created: the only time its secret is shown."""

    id: str
    name: str
    created_at: datetime
    token: str = Field(description="The secret: keep it; it cannot be shown again.")


@router.get("", summary="Every API token (never the secret)")
async def list_tokens(service: ServiceDep) -> list[TokenInfo]:
    return await asyncio.to_thread(service.store.list_tokens)


def _create(service: LightBoxService, name: str) -> NewToken:
    with service.store.transaction() as tx:
        info, token = tx.create_token(name)
    return NewToken(id=info.id, name=info.name, created_at=info.created_at, token=token)


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create an API token")
async def create_token(
    service: ServiceDep,
    name: Annotated[
        str,
        Body(
            embed=True,
            min_length=1,
            max_length=64,
            description="Who or what will use it.",
            examples=["phone"],
        ),
    ],
    response: Response,
) -> NewToken:
    created = await asyncio.to_thread(_create, service, name)
    service.events.publish(Event("tokens", id=created.id))
    response.headers["Cache-Control"] = "no-store"
    return created


def _revoke(service: LightBoxService, token_id: str) -> bool:
    with service.store.transaction() as tx:
        return tx.revoke_token(token_id)


@router.delete(
    "/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke an API token (at once: its next request gets a 401)",
)
async def revoke_token(service: ServiceDep, token_id: str) -> None:
    if not await asyncio.to_thread(_revoke, service, token_id):
        raise NotFound(f"token {token_id!r} does not exist", field="token_id")
    service.events.publish(Event("tokens", id=token_id))
