"""Finding LightBoxes on the LAN: mDNS / DNS-SD with ``zeroconf``.

A LightBox advertises one service instance of type ``_lightbox._tcp.local.``:

- instance name: the device name (``Kitchen sign._lightbox._tcp.local.``), made unique
  (``Kitchen sign-2``) when another device already uses it: by zeroconf's probing, or
  later, when two devices announce the same name (the greater device id renames);
- SRV: host ``<device id>.local.`` (its own name, so it never clashes with avahi's host
  name), port: the local API's HTTP port;
- A: the host's IPv4 addresses (those of ``interfaces`` when given);
- TXT: ``id`` (device id), ``name``, ``version`` (software), ``api`` (``/api/v1``),
  ``paired`` (``1`` once an API token exists, else ``0``).

:class:`Advertiser` re-announces when the name, the paired flag or the addresses change:
call :meth:`Advertiser.update` when you know something changed (a rename, a token created
or revoked); it also checks by itself every ``poll_s`` seconds (addresses change on their
own: DHCP, a new Wi-Fi network). :func:`discover` browses for LightBoxes for a while and
returns what it found.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import ifaddr
from zeroconf import DNSQuestionType, InterfaceChoice, IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from lightbox import __version__

__all__ = ["API_PATH", "SERVICE_TYPE", "Advertiser", "Found", "discover", "host_addresses"]

log = logging.getLogger(__name__)

SERVICE_TYPE = "_lightbox._tcp.local."
API_PATH = "/api/v1"
MAX_INSTANCE_BYTES = 63


def host_addresses(interfaces: Sequence[str] | None = None) -> list[str]:
    """This host's IPv4 addresses, sorted: those in ``interfaces``, else every non-loopback."""
    found: set[str] = set()
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if not isinstance(ip.ip, str):
                continue  # IPv6: (address, flowinfo, scope)
            address = ipaddress.IPv4Address(ip.ip)
            if interfaces is not None:
                if str(address) in interfaces:
                    found.add(str(address))
            elif not address.is_loopback and not address.is_link_local:
                found.add(str(address))
    return sorted(found, key=ipaddress.IPv4Address)


def _instance_name(name: str, fallback: str) -> str:
    """A DNS-SD instance label: at most 63 UTF-8 bytes, no dots, never empty."""
    label = " ".join(name.replace(".", " ").split())
    encoded = label.encode("utf-8")[:MAX_INSTANCE_BYTES]
    label = encoded.decode("utf-8", errors="ignore").strip()
    return label or fallback


def _zeroconf(interfaces: Sequence[str] | None) -> AsyncZeroconf:
    return AsyncZeroconf(
        interfaces=list(interfaces) if interfaces is not None else InterfaceChoice.All,
        ip_version=IPVersion.V4Only,
    )


@dataclass(frozen=True)
class _Record:
    name: str
    paired: bool
    addresses: tuple[str, ...]


class Advertiser:
    """Advertise one LightBox on the LAN (``start`` ... ``update`` ... ``stop``).

    ``interfaces``: IPv4 addresses to announce on (and to announce); None: every interface.
    ``paired`` is called (in a worker thread: it may read the store) on every check.
    """

    def __init__(
        self,
        *,
        device_id: str,
        name: str,
        port: int,
        version: str = __version__,
        paired: Callable[[], bool],
        interfaces: Sequence[str] | None = None,
        poll_s: float = 30.0,
    ) -> None:
        self.device_id = device_id
        self._name = name
        self.port = port
        self.version = version
        self._paired = paired
        self._interfaces = list(interfaces) if interfaces is not None else None
        self._poll_s = poll_s
        self._zc: AsyncZeroconf | None = None
        self._info: AsyncServiceInfo | None = None
        self._record: _Record | None = None
        self._task: asyncio.Task[None] | None = None
        self._browser: AsyncServiceBrowser | None = None
        self._conflict_task: asyncio.Task[None] | None = None
        self._others: set[str] = set()  # service names seen on the network (ours too)
        self._lock = asyncio.Lock()
        self.announcements = 0

    @property
    def service_name(self) -> str | None:
        """The full service name as registered (with zeroconf's suffix if it renamed us)."""
        return self._info.name if self._info is not None else None

    async def start(self) -> None:
        """Register the service and start watching for changes."""
        if self._zc is not None:
            return
        self._zc = _zeroconf(self._interfaces)
        try:
            # Keep watching the other LightBoxes (multicast questions: every responder on
            # the link hears the answers): zeroconf's probes only catch a name that another
            # device defends within their 1.5 s (not one that starts at the same moment,
            # or whose defence comes late or, as unicast, to another socket on this host).
            self._browser = AsyncServiceBrowser(
                self._zc.zeroconf,
                [SERVICE_TYPE],
                handlers=[self._on_service],
                question_type=DNSQuestionType.QM,
            )
            async with self._lock:
                record = await self._current()
                await self._register(record)
        except BaseException:
            zc, self._zc = self._zc, None
            await self._stop_browser()
            await zc.async_close()
            raise
        self._task = asyncio.create_task(self._watch(), name="mdns-watch")

    async def update(self, name: str | None = None) -> bool:
        """Take a new device name (if given) and re-announce if anything changed.

        Returns True if the record was re-announced.
        """
        if name is not None:
            self._name = name
        if self._zc is None:
            return False
        async with self._lock:
            record = await self._current()
            if record == self._record:
                return False
            assert self._record is not None
            if record.name != self._record.name:
                await self._unregister()
                await self._register(record)
            else:
                info = self._info_for(record, self.service_name)
                await (await self._zc.async_update_service(info))
                self._info, self._record = info, record
                self.announcements += 1
            log.info(
                "mDNS: re-announced %s (paired=%s, addresses=%s)",
                self.service_name,
                record.paired,
                ",".join(record.addresses),
            )
            return True

    async def stop(self) -> None:
        """Say goodbye on the network and close zeroconf."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._stop_browser()
        zc, self._zc = self._zc, None
        if zc is None:
            return
        try:
            async with self._lock:
                self._zc = zc
                await self._unregister()
        finally:
            self._zc = None
            await zc.async_close()

    # -- internals --------------------------------------------------------------------
    async def _stop_browser(self) -> None:
        conflict = self._conflict_task
        if conflict is not None:
            conflict.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await conflict
        browser, self._browser = self._browser, None
        if browser is not None:
            await browser.async_cancel()

    def _on_service(
        self,
        zeroconf: Zeroconf,
        service_type: str,
        name: str,
        state_change: ServiceStateChange,
    ) -> None:
        if state_change is ServiceStateChange.Removed:
            self._others.discard(name)
            return
        self._others.add(name)
        mine = self._info.name if self._info is not None else None
        if mine is None:
            return
        if name.lower() == mine.lower() and self._conflict_task is None:
            self._conflict_task = asyncio.create_task(self._resolve_conflict(name))

    async def _resolve_conflict(self, name: str) -> None:
        """Another device announces our instance name: the one with the greater id renames.

        RFC 6762 section 9: a conflict seen after probing is resolved again; a fixed order
        (the device ids) keeps both from renaming at once and racing each other.
        """
        try:
            zc = self._zc
            if zc is None:
                return
            other = AsyncServiceInfo(SERVICE_TYPE, name)
            if not await other.async_request(zc.zeroconf, 3000):
                return
            raw_id = (other.properties or {}).get(b"id")
            if raw_id is None:
                return
            other_id = raw_id.decode(errors="replace")
            if other_id == self.device_id:
                return  # our own record
            if self.device_id < other_id:
                log.info("mDNS: %s is also claimed by %r, which renames", name, other_id)
                return
            async with self._lock:
                if self._zc is None or self._info is None or self._record is None:
                    return
                if self._info.name.lower() != name.lower():
                    return  # renamed meanwhile
                taken = {n.lower() for n in self._others}
                number = 2
                while f"{self._record.name}-{number}.{SERVICE_TYPE}".lower() in taken:
                    number += 1
                # No goodbye for a name the other device keeps using: its records have the
                # same names (PTR, SRV, TXT), and browsers would drop them with ours.
                self._withdraw_without_goodbye()
                await self._register(self._record, f"{self._record.name}-{number}.{SERVICE_TYPE}")
            log.warning(
                "mDNS: %s is also used by device %r; now advertising as %s",
                name,
                other_id,
                self.service_name,
            )
        except Exception:
            log.exception("mDNS: could not resolve a name conflict over %s", name)
        finally:
            self._conflict_task = None

    async def _current(self) -> _Record:
        paired = bool(await asyncio.to_thread(self._paired))
        addresses = tuple(await asyncio.to_thread(host_addresses, self._interfaces))
        return _Record(_instance_name(self._name, self.device_id), paired, addresses)

    def _info_for(self, record: _Record, service_name: str | None = None) -> AsyncServiceInfo:
        return AsyncServiceInfo(
            SERVICE_TYPE,
            service_name or f"{record.name}.{SERVICE_TYPE}",
            port=self.port,
            properties={
                "id": self.device_id,
                "name": self._name,
                "version": self.version,
                "api": API_PATH,
                "paired": "1" if record.paired else "0",
            },
            server=f"{self.device_id}.local.",
            parsed_addresses=list(record.addresses),
        )

    async def _register(self, record: _Record, service_name: str | None = None) -> None:
        assert self._zc is not None
        info = self._info_for(record, service_name)
        await (await self._zc.async_register_service(info, allow_name_change=True))
        self._info, self._record = info, record
        self.announcements += 1
        log.info("mDNS: advertising %s on port %d", info.name, self.port)

    def _withdraw_without_goodbye(self) -> None:
        assert self._zc is not None
        info, self._info = self._info, None
        if info is not None:
            self._zc.zeroconf.registry.async_remove(info)

    async def _unregister(self) -> None:
        if self._zc is None or self._info is None:
            return
        info, self._info = self._info, None
        await (await self._zc.async_unregister_service(info))

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._poll_s)
            try:
                await self.update()
            except Exception:  # keep advertising whatever happens
                log.exception("mDNS: could not re-announce")


@dataclass(frozen=True)
class Found:
    """A LightBox seen on the network."""

    id: str
    name: str
    host: str
    addresses: list[str] = field(default_factory=list)
    port: int = 0
    version: str = ""
    api: str = API_PATH
    paired: bool = False
    service: str = ""

    @property
    def url(self) -> str | None:
        """The local API's base URL (first address), or None without an address."""
        if not self.addresses:
            return None
        return f"http://{self.addresses[0]}:{self.port}{self.api}"


def _found(info: AsyncServiceInfo) -> Found | None:
    props = {k: (v or "") for k, v in info.decoded_properties.items()}
    device_id = props.get("id")
    if not device_id or info.port is None:
        return None
    instance = info.name.removesuffix("." + SERVICE_TYPE)
    return Found(
        id=device_id,
        name=props.get("name") or instance,
        host=(info.server or "").rstrip("."),
        addresses=sorted(info.parsed_addresses(IPVersion.V4Only), key=ipaddress.IPv4Address),
        port=info.port,
        version=props.get("version", ""),
        api=props.get("api") or API_PATH,
        paired=props.get("paired") == "1",
        service=info.name,
    )


async def discover(
    timeout: float = 3.0,  # noqa: ASYNC109 (how long to listen, not a deadline)
    interfaces: Sequence[str] | None = None,
) -> list[Found]:
    """LightBoxes that answer within ``timeout`` seconds, by name then id."""
    azc = _zeroconf(interfaces)
    names: set[str] = set()

    def on_change(
        zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        if state_change is ServiceStateChange.Removed:
            names.discard(name)
        else:
            names.add(name)

    browser = AsyncServiceBrowser(azc.zeroconf, SERVICE_TYPE, handlers=[on_change])
    try:
        await asyncio.sleep(timeout)
        infos = [AsyncServiceInfo(SERVICE_TYPE, name) for name in sorted(names)]
        await asyncio.gather(*(info.async_request(azc.zeroconf, 1000) for info in infos))
    finally:
        await browser.async_cancel()
        await azc.async_close()
    found = [f for f in (_found(info) for info in infos) if f is not None]
    return sorted(found, key=lambda f: (f.name.casefold(), f.id))
