"""The local API of one LightBox, on the LAN: :class:`LocalClient`."""

from __future__ import annotations

from typing import Any

import httpx

from lightbox.client._closing import AsyncClosing
from lightbox.client._http import DEFAULT_TIMEOUT_S, Http
from lightbox.client.commands import CommandLike, prepare, set_command
from lightbox.protocol import CommandResult, DeviceInfo, Preset, State

__all__ = ["API_PATH", "DEFAULT_CONNECT_TIMEOUT_S", "LocalClient"]

API_PATH = "/api/v1"
DEFAULT_CONNECT_TIMEOUT_S = 1.5


def api_base(url: str) -> str:
    """``http://host:port`` or ``.../api/v1`` -> ``http://host:port/api/v1``."""
    url = url.rstrip("/")
    if "://" not in url:
        url = f"http://{url}"
    return url if url.endswith(API_PATH) else f"{url}{API_PATH}"


class LocalClient(AsyncClosing):
    """A LightBox's local REST API (``docs/api.md``) with an API token.

    ``session``: an outside ``httpx.AsyncClient`` (the caller closes it); otherwise the
    client opens its own and :meth:`aclose` (or ``async with``) closes it.
    ``connect_timeout_s`` is short on purpose: a LightBox on the LAN answers a connect in
    milliseconds, and a hybrid client must give up on it quickly.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        session: httpx.AsyncClient | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
    ) -> None:
        self.base_url = api_base(base_url)
        self.token = token
        self._http = Http(
            self.base_url,
            session=session,
            timeout_s=timeout_s,
            connect_timeout_s=connect_timeout_s,
        )

    @property
    def host(self) -> str:
        """``host:port`` of the LightBox (what the CLI prints)."""
        return httpx.URL(self.base_url).netloc.decode()

    async def info(self) -> DeviceInfo:
        """Public facts (no token needed)."""
        response = await self._http.request("GET", "/info")
        return DeviceInfo.model_validate_json(response.content)

    async def state(self) -> State:
        response = await self._http.request("GET", "/state", token=self.token)
        return State.model_validate_json(response.content)

    async def send(self, command: CommandLike) -> CommandResult:
        """Run any command (an ``id`` is added when missing); refused: CommandRefused."""
        body = prepare(command)
        response = await self._http.request(
            "POST", "/commands", json=body, token=self.token, command=True
        )
        return CommandResult.model_validate_json(response.content)

    async def set(self, **fields: Any) -> CommandResult:
        """``set(power=..., brightness=..., scene=..., transition=...)``."""
        return await self.send(set_command(**fields))

    async def apply_preset(self, preset_id: str) -> CommandResult:
        return await self.send({"type": "preset.apply", "preset": preset_id})

    async def presets(self) -> list[Preset]:
        response = await self._http.request("GET", "/presets", token=self.token)
        return [Preset.model_validate(p) for p in response.json()]

    async def aclose(self) -> None:
        await self._http.aclose()
