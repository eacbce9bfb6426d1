"""The signed-in user."""

from __future__ import annotations

from fastapi import APIRouter

from lightbox.cloud.api.deps import UserDep
from lightbox.cloud.api.routes.auth import user_out
from lightbox.cloud.schemas import UserOut

router = APIRouter(tags=["accounts"])


@router.get("/me", summary="Who am I", responses={401: {"description": "Not signed in"}})
async def me(principal: UserDep) -> UserOut:
    return user_out(principal.user)
