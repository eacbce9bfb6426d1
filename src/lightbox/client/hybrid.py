"""Local first, cloud fallback: :class:`HybridClient` (the seed's *hybrid* mode).

Each call tries the LAN path first: the :class:`LocalClient` given, or one made for the
address that mDNS discovery (:func:`lightbox.edge.discovery.discover`) finds for
``device_id``. The LAN path has a short connect timeout. When it *fails* (no connection,
no answer in time) the call goes through the cloud relay instead; when the LightBox
*answered* with an error, that error is raised as is (the cloud would say the same).
After a failure the LAN path rests for ``cooldown_s`` (calls go straight to the cloud),
then is tried again. :attr:`path` says which path the last call took.

Commands carry an ``id`` (a uuid is added), and the same id is used on both paths: a
command whose LAN answer was lost and that is then sent via the cloud is applied once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar

from lightbox.client._closing import AsyncClosing
from lightbox.client.cloud import CloudClient
from lightbox.client.commands import CommandLike, prepare, set_command
from lightbox.client.errors import ConnectionFailed, LightBoxClientError, Timeout
from lightbox.client.local import LocalClient
from lightbox.protocol import CommandResult, DeviceInfo, State

__all__ = ["Device", "HybridClient", "Path"]

log = logging.getLogger(__name__)

Path = Literal["local", "cloud"]
_T = TypeVar("_T")
DEFAULT_COOLDOWN_S = 30.0
DEFAULT_DISCOVERY_S = 2.0


@dataclass(frozen=True, slots=True)
class Device:
    """What :meth:`HybridClient.info` returns, whichever path answered."""

    id: str
    name: str
    version: str
    online: bool
    last_seen_at: datetime | None = None
    details: DeviceInfo | None = None
    """The LightBox's own facts (size, driver, fps...): on the LAN path only."""


Discover = Callable[[], Awaitable[Sequence[Any]]]


def _path_failed(err: LightBoxClientError) -> bool:
    """The LAN path failed (nobody answered), as opposed to an answer that is an error."""
    return isinstance(err, ConnectionFailed | Timeout) and not err.answered


class HybridClient(AsyncClosing):
    """The same calls over the LAN or via the cloud. At least one of ``local``, ``cloud``.

    ``discover``: look for the LightBox with mDNS when no ``local`` client is given, or when
    the known address stops answering (needs ``device_id`` and ``local_token``).
    ``discovery``: how to browse (default: :func:`lightbox.edge.discovery.discover`).
    """

    def __init__(
        self,
        local: LocalClient | None,
        cloud: CloudClient | None,
        *,
        discover: bool = True,
        device_id: str | None = None,
        local_token: str | None = None,
        cooldown_s: float = DEFAULT_COOLDOWN_S,
        discovery_timeout_s: float = DEFAULT_DISCOVERY_S,
        discovery: Discover | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if local is None and cloud is None and not (discover and device_id and local_token):
            raise ValueError("give a local client, a cloud client, or discovery with a token")
        self.local = local
        self.cloud = cloud
        self.device_id = device_id or (cloud.device_id if cloud else None)
        if cloud is not None and cloud.device_id is None:
            cloud.device_id = self.device_id
        self._discover = discover
        self._local_token = local_token or (local.token if local else None)
        self._cooldown_s = cooldown_s
        self._discovery_timeout_s = discovery_timeout_s
        self._discovery = discovery
        self._clock = clock
        self._local_down_until = float("-inf")
        self._owned_local: LocalClient | None = None
        self._path: Path | None = None
        self.last_local_error: LightBoxClientError | None = None

    @property
    def path(self) -> Path | None:
        """The path the last call took: "local" or "cloud" (None before any call)."""
        return self._path

    @property
    def via(self) -> str:
        """A human line for the last path: "via LAN 192.168.1.20:80" or "via cloud"."""
        if self.path == "local" and self.local is not None:
            return f"via LAN {self.local.host}"
        return "via cloud" if self.path == "cloud" else "no call yet"

    # -- the calls ---------------------------------------------------------------------------

    async def info(self) -> Device:
        async def local(c: LocalClient) -> Device:
            info = await c.info()
            return Device(info.id, info.name, info.version, True, None, info)

        async def cloud(c: CloudClient) -> Device:
            d = await c.device()
            return Device(d.device_id, d.name, d.version, d.online, d.last_seen_at)

        return await self._route(local, cloud)

    async def state(self) -> State:
        """The full state: from the LightBox; via the cloud, what the cloud has (or
        :class:`~lightbox.client.errors.Unsupported`)."""
        return await self._route(lambda c: c.state(), lambda c: c.state())

    async def send(self, command: CommandLike) -> CommandResult:
        body = prepare(command)  # one id for both paths
        return await self._route(lambda c: c.send(body), lambda c: c.send(body))

    async def set(self, **fields: Any) -> CommandResult:
        """``set(power=..., brightness=..., scene=..., transition=...)``."""
        return await self.send(set_command(**fields))

    async def apply_preset(self, preset_id: str) -> CommandResult:
        return await self.send({"type": "preset.apply", "preset": preset_id})

    async def identify(self, duration_s: float | None = None) -> CommandResult:
        body: dict[str, Any] = {"type": "identify"}
        if duration_s is not None:
            body["duration_s"] = duration_s
        return await self.send(body)

    # -- routing -----------------------------------------------------------------------------

    async def _route(
        self,
        on_local: Callable[[LocalClient], Awaitable[_T]],
        on_cloud: Callable[[CloudClient], Awaitable[_T]],
    ) -> _T:
        local_error: LightBoxClientError | None = None
        if self._clock() >= self._local_down_until:
            local = await self._local_client()
            if local is not None:
                try:
                    result = await on_local(local)
                except LightBoxClientError as err:
                    if not _path_failed(err) or self.cloud is None:
                        self._path = "local"
                        raise
                    local_error = err
                    self._lan_failed(err)
                    # the address may have changed (DHCP): look again, once, right now
                    if await self._rediscover(local):
                        return await self._route(on_local, on_cloud)
                else:
                    self._path = "local"
                    self._local_down_until = float("-inf")
                    return result
        if self.cloud is None:
            raise ConnectionFailed(
                "the LightBox is not reachable on the LAN right now "
                f"({self.last_local_error or 'no address'}) and no cloud is configured"
            )
        self._path = "cloud"
        try:
            return await on_cloud(self.cloud)
        except LightBoxClientError as err:
            if local_error is not None:
                raise err from local_error
            raise

    def _lan_failed(self, err: LightBoxClientError) -> None:
        self.last_local_error = err
        self._local_down_until = self._clock() + self._cooldown_s
        log.info("LAN path failed (%s); via the cloud for %.0f s", err, self._cooldown_s)

    async def _local_client(self) -> LocalClient | None:
        if self.local is None and self._can_discover():
            found = await self._find()
            if found is not None:
                self.local = self._owned_local = LocalClient(found, self._local_token)
        return self.local

    def _can_discover(self) -> bool:
        return self._discover and self.device_id is not None and self._local_token is not None

    async def _rediscover(self, failed: LocalClient) -> bool:
        """A new address for the device by mDNS (True: a different one, ready to try)."""
        if not self._can_discover():
            return False
        url = await self._find()
        if url is None or LocalClient(url, None).base_url == failed.base_url:
            return False
        if self._owned_local is not None:
            await self._owned_local.aclose()
        self.local = self._owned_local = LocalClient(url, self._local_token)
        self._local_down_until = float("-inf")
        return True

    async def _find(self) -> str | None:
        browse = self._discovery
        if browse is None:
            from lightbox.edge.discovery import discover

            timeout = self._discovery_timeout_s

            async def browse_lan() -> Sequence[Any]:
                return await discover(timeout=timeout)

            browse = browse_lan
        try:
            found = await browse()
        except Exception as err:  # no multicast here, say: the cloud path remains
            log.info("mDNS discovery failed: %s", err)
            return None
        for f in found:
            if getattr(f, "id", None) == self.device_id and getattr(f, "url", None):
                url: str = f.url
                return url
        return None

    async def aclose(self) -> None:
        """Close the clients this one made (those given are the caller's to close)."""
        if self._owned_local is not None:
            await self._owned_local.aclose()
            self._owned_local = None
