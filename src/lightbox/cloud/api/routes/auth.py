"""Accounts: sign-up, log-in, token refresh, log-out, password change."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from lightbox.cloud.api.deps import AccountsDep, ClientIP, OptionalUserDep, UserDep
from lightbox.cloud.schemas import (
    Credentials,
    LoginRequest,
    LogoutRequest,
    PasswordChange,
    RefreshRequest,
    TokenPair,
    UserOut,
)

router = APIRouter(prefix="/auth", tags=["accounts"])

LIMITED: dict[int | str, dict[str, Any]] = {
    429: {"description": "Too many attempts (see Retry-After)"}
}


def user_out(user: object) -> UserOut:
    from lightbox.cloud.db import User

    assert isinstance(user, User)
    return UserOut(
        id=str(user.id), email=user.email, created_at=user.created_at, is_admin=user.is_admin
    )


@router.post(
    "/signup",
    status_code=status.HTTP_201_CREATED,
    summary="Create an account",
    responses={409: {"description": "The e-mail has an account"}, **LIMITED},
)
async def signup(body: Credentials, accounts: AccountsDep, ip: ClientIP) -> UserOut:
    user = await accounts.signup(body.email, body.password, ip=ip)
    return user_out(user)


@router.post(
    "/login",
    summary="Log in: an access token and a refresh token",
    responses={401: {"description": "Wrong e-mail or password"}, **LIMITED},
)
async def login(body: LoginRequest, accounts: AccountsDep, ip: ClientIP) -> TokenPair:
    return await accounts.login(body.email, body.password, ip=ip)


@router.post(
    "/refresh",
    summary="Exchange a refresh token for new tokens (the old one is used up)",
    responses={401: {"description": "Invalid, expired, revoked or reused token"}, **LIMITED},
)
async def refresh(body: RefreshRequest, accounts: AccountsDep, ip: ClientIP) -> TokenPair:
    return await accounts.refresh(body.refresh_token, ip=ip)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="End this session (or every session) of the account",
    responses={401: {"description": "No session named"}},
)
async def logout(
    accounts: AccountsDep, principal: OptionalUserDep, body: LogoutRequest | None = None
) -> Response:
    body = body or LogoutRequest()
    await accounts.logout(principal, body.refresh_token, everywhere=body.everywhere)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/password",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Change the password; every other session ends",
    responses={401: {"description": "Not signed in, or wrong current password"}, **LIMITED},
)
async def change_password(
    body: PasswordChange, accounts: AccountsDep, principal: UserDep, ip: ClientIP
) -> Response:
    await accounts.change_password(principal, body.current_password, body.new_password, ip=ip)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
