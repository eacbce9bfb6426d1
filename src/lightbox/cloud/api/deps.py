"""Dependencies of the route handlers, as ``Annotated`` aliases.

``ServicesDep``: the instance's :class:`CloudServices`; ``AccountsDep``/``DevicesDep``: the
account and device logic on them; ``UserDep``: the signed-in user (401 otherwise);
``DeviceSecretDep``: the bearer token of a device route (its registration secret);
``ClientIP``: the caller's address (rate limits).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from lightbox.cloud.accounts import Accounts, Principal
from lightbox.cloud.devices import Devices
from lightbox.cloud.services import CloudServices

user_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="user",
    description="An access token from POST /api/v1/auth/login: `Authorization: Bearer eyJ...`.",
)
device_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="device",
    description="A device's registration secret: `Authorization: Bearer lbs_...`.",
)


async def get_services(conn: HTTPConnection) -> CloudServices:
    services: CloudServices = conn.app.state.services
    return services


ServicesDep = Annotated[CloudServices, Depends(get_services)]


def get_accounts(services: ServicesDep) -> Accounts:
    return Accounts(services)


def get_devices(services: ServicesDep) -> Devices:
    return Devices(services)


AccountsDep = Annotated[Accounts, Depends(get_accounts)]
DevicesDep = Annotated[Devices, Depends(get_devices)]


async def current_user(
    accounts: AccountsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(user_bearer)],
) -> Principal:
    return await accounts.authenticate(credentials.credentials if credentials else None)


async def optional_user(
    accounts: AccountsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(user_bearer)],
) -> Principal | None:
    return await accounts.authenticate(credentials.credentials) if credentials else None


UserDep = Annotated[Principal, Depends(current_user)]
OptionalUserDep = Annotated[Principal | None, Depends(optional_user)]


def device_secret(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(device_bearer)],
) -> str | None:
    return credentials.credentials if credentials else None


DeviceSecretDep = Annotated[str | None, Depends(device_secret)]


async def client_ip(conn: HTTPConnection) -> str:
    """The client's address (behind a proxy: uvicorn's ``forwarded_allow_ips`` decides)."""
    return conn.client.host if conn.client else "unknown"


ClientIP = Annotated[str, Depends(client_ip)]
