"""The LightBox cloud API (``docs/cloud-api.md``): :class:`CloudClient`.

Signs in with an e-mail and password or uses the tokens it is given; an expired access
token is refreshed once, transparently (the refresh token, else the password).
Commands go through the relay, ``POST /api/v1/devices/{id}/commands``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from lightbox.client._closing import AsyncClosing
from lightbox.client._http import Http
from lightbox.client.commands import CommandLike, prepare, set_command
from lightbox.client.errors import NotFound, Unauthorized, Unsupported
from lightbox.cloud.schemas import DeviceOut, TokenPair, UserOut
from lightbox.protocol import CommandResult, State

__all__ = ["API_PATH", "CloudClient"]

API_PATH = "/api/v1"
# the relay waits up to 10 s for the device; give the HTTP answer a little more
RELAY_TIMEOUT_S = 15.0


class CloudClient(AsyncClosing):
    """A signed-in user of a LightBox cloud.

    Either ``access_token`` (and ideally ``refresh_token``), or ``email`` + ``password``.
    ``device_id`` is the default device of the device calls. ``on_tokens`` hears every new
    token pair (the CLI stores them). ``session`` as for :class:`LocalClient`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        access_token: str | None = None,
        refresh_token: str | None = None,
        email: str | None = None,
        password: str | None = None,
        device_id: str | None = None,
        session: httpx.AsyncClient | None = None,
        timeout_s: float = RELAY_TIMEOUT_S,
        connect_timeout_s: float = 5.0,
        on_tokens: Callable[[TokenPair], None] | None = None,
    ) -> None:
        if access_token is None and refresh_token is None and (email is None or password is None):
            raise ValueError("give access_token (or refresh_token), or email and password")
        base = base_url.rstrip("/")
        self.base_url = base.removesuffix(API_PATH)
        self.access_token = access_token
        self.refresh_token = refresh_token
        self.email = email
        self._password = password
        self.device_id = device_id
        self._on_tokens = on_tokens
        self._http = Http(
            f"{self.base_url}{API_PATH}",
            session=session,
            timeout_s=timeout_s,
            connect_timeout_s=connect_timeout_s,
        )

    # -- accounts ---------------------------------------------------------------------------

    async def login(self) -> TokenPair:
        if self.email is None or self._password is None:
            raise Unauthorized("no e-mail and password to log in with", code="unauthorized")
        response = await self._http.request(
            "POST", "/auth/login", json={"email": self.email, "password": self._password}
        )
        return self._keep(TokenPair.model_validate_json(response.content))

    async def refresh(self) -> TokenPair:
        """New tokens from the refresh token (or a new log-in when there is none)."""
        if self.refresh_token is None:
            return await self.login()
        try:
            response = await self._http.request(
                "POST", "/auth/refresh", json={"refresh_token": self.refresh_token}
            )
        except Unauthorized:
            self.refresh_token = None
            if self._password is None:
                raise
            return await self.login()
        return self._keep(TokenPair.model_validate_json(response.content))

    async def logout(self) -> None:
        body = {"refresh_token": self.refresh_token} if self.refresh_token else {}
        await self._http.request("POST", "/auth/logout", json=body, token=self.access_token)
        self.access_token = self.refresh_token = None

    async def me(self) -> UserOut:
        return UserOut.model_validate_json((await self._call("GET", "/me")).content)

    # -- devices ----------------------------------------------------------------------------

    async def devices(self) -> list[DeviceOut]:
        response = await self._call("GET", "/devices")
        return [DeviceOut.model_validate(d) for d in response.json()]

    async def device(self, device_id: str | None = None) -> DeviceOut:
        response = await self._call("GET", f"/devices/{self._id(device_id)}")
        return DeviceOut.model_validate_json(response.content)

    async def claim(self, code: str) -> DeviceOut:
        response = await self._call("POST", "/devices/claim", json={"code": code})
        return DeviceOut.model_validate_json(response.content)

    async def state(self, device_id: str | None = None) -> State:
        """The state the device last published to the cloud broker.

        :class:`Unsupported` when this cloud does not offer device state; :class:`NotFound`
        (field ``state``) when the device has published none yet.
        """
        device = self._id(device_id)
        try:
            response = await self._call("GET", f"/devices/{device}/state")
        except NotFound as err:
            if err.field in ("device_id", "state"):
                raise
            raise Unsupported(
                f"the cloud at {self.base_url} does not hold device state; reach the "
                "LightBox on its LAN for it"
            ) from err
        return State.model_validate_json(response.content)

    async def send(self, command: CommandLike, *, device_id: str | None = None) -> CommandResult:
        """Relay a command to the device; its result (refused: CommandRefused)."""
        body = prepare(command)
        response = await self._call(
            "POST", f"/devices/{self._id(device_id)}/commands", json=body, command=True
        )
        return CommandResult.model_validate_json(response.content)

    async def set(self, *, device_id: str | None = None, **fields: Any) -> CommandResult:
        return await self.send(set_command(**fields), device_id=device_id)

    async def apply_preset(self, preset_id: str, *, device_id: str | None = None) -> CommandResult:
        return await self.send({"type": "preset.apply", "preset": preset_id}, device_id=device_id)

    # -- plumbing ---------------------------------------------------------------------------

    def _id(self, device_id: str | None) -> str:
        chosen = device_id or self.device_id
        if not chosen:
            raise ValueError("which device? pass device_id (here or to CloudClient)")
        return chosen

    def _keep(self, tokens: TokenPair) -> TokenPair:
        self.access_token = tokens.access_token
        self.refresh_token = tokens.refresh_token
        if self._on_tokens is not None:
            self._on_tokens(tokens)
        return tokens

    async def _call(
        self, method: str, path: str, *, json: Any = None, command: bool = False
    ) -> httpx.Response:
        """An authenticated request; one refresh (or log-in) and retry on a 401."""
        if self.access_token is None:
            await self.refresh()
        try:
            return await self._http.request(
                method, path, json=json, token=self.access_token, command=command
            )
        except Unauthorized as err:
            if err.status != 401 or (self.refresh_token is None and self._password is None):
                raise
        await self.refresh()
        return await self._http.request(
            method, path, json=json, token=self.access_token, command=command
        )

    async def aclose(self) -> None:
        await self._http.aclose()
