"""One LightBox, assembled and run: store, service, broker, MQTT link and the HTTP API.

States: ``setup`` -> ``running`` -> ``stopping`` -> ``stopped``. :meth:`EdgeRuntime.start`
builds everything (opening the store applies its migrations) and starts the long-running
tasks, each named and owned here; :meth:`EdgeRuntime.stop` stops them in stages, each
with a timeout: HTTP stops taking requests, the MQTT link says ``offline``, the timers and
the render loop stop, the store closes, the embedded broker goes last.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import secrets
import signal
import sys
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn

from lightbox import aio
from lightbox.drivers.base import Driver
from lightbox.edge.config import EdgeConfig
from lightbox.edge.media import MediaLibrary
from lightbox.edge.pairing import Pairing

if TYPE_CHECKING:
    from lightbox.edge.cloud_link import CloudLink
from lightbox.edge.service import LightBoxService
from lightbox.edge.store import Store
from lightbox.protocol import Settings, State
from lightbox.protocol.settings import (
    DdpDriver,
    E131Driver,
    EmulatorDriver,
    Hub75Driver,
    MatrixSettings,
    NullDriver,
    TerminalDriver,
    Ws281xDriver,
)
from lightbox.render.frame import Size

log = logging.getLogger(__name__)

_DRIVERS = {
    "emulator": EmulatorDriver,
    "terminal": TerminalDriver,
    "null": NullDriver,
    "hub75": Hub75Driver,
    "ws281x": Ws281xDriver,
}


class Phase(enum.Enum):
    SETUP = "setup"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class Endpoints:
    http_url: str
    mqtt_url: str
    embedded_broker: bool


def device_identity(store: Store, config: EdgeConfig) -> str:
    """The device id: from the config, else the one stored, else a new one (stored)."""
    stored = store.get_meta("device_id")
    device_id = config.device_id or stored or f"lightbox-{secrets.token_hex(4)}"
    if device_id != stored:
        with store.transaction() as tx:
            tx.set_meta("device_id", device_id)
    return device_id


def initial_settings(store: Store, config: EdgeConfig) -> Settings:
    """Stored settings with the config's explicit overrides (size, driver, fps, name)."""
    settings = store.load_settings() or Settings()
    update: dict[str, object] = {}
    if config.name:
        update["name"] = config.name
    if config.size:
        size = Size.parse(config.size)
        matrix = settings.matrix.model_dump()
        matrix.update(width=size.width, height=size.height, panel_width=None, panel_height=None)
        update["matrix"] = MatrixSettings.model_validate(matrix)
    if config.driver and config.driver != settings.driver.name:
        if config.driver in ("ddp", "e131"):
            current = settings.driver
            if not isinstance(current, DdpDriver | E131Driver):
                raise ValueError(
                    f"driver {config.driver!r} needs a target host: set it in the settings "
                    "(PUT /api/v1/settings) rather than with --driver"
                )
        else:
            update["driver"] = _DRIVERS[config.driver]()
    if config.fps:
        update["output"] = settings.output.model_copy(update={"fps": config.fps})
    if update:
        settings = Settings.model_validate(
            {
                **settings.model_dump(),
                **{
                    k: (v.model_dump() if hasattr(v, "model_dump") else v)
                    for k, v in update.items()
                },
            }
        )
        with store.transaction() as tx:
            tx.save_settings(settings)
    return settings


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handlers: the runtime owns SIGINT and SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class EdgeRuntime:
    def __init__(
        self, config: EdgeConfig, *, driver_factory: Callable[[Settings], Driver] | None = None
    ) -> None:
        self.config = config
        self._driver_factory = driver_factory
        self.phase = Phase.SETUP
        self.store: Store | None = None
        self.service: LightBoxService | None = None
        self.endpoints: Endpoints | None = None
        self._broker: object | None = None
        self._link: object | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._server: object | None = None
        self._advertiser: Any = None
        self._ble: Any = None
        self._background: set[asyncio.Task[object]] = set()
        self.pairing: Pairing | None = None
        self.cloud: CloudLink | None = None
        self._cloud_parts: list[Any] = []
        self._stopped = asyncio.Event()

    async def start(self) -> Endpoints:
        from lightbox.edge.api.app import create_app
        from lightbox.edge.api.static import WEB_APP_DIR
        from lightbox.edge.mqtt import MqttLink, MqttSettings
        from lightbox.edge.mqtt.broker import EmbeddedBroker

        cfg = self.config
        data_dir = Path(cfg.data_dir)
        await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
        store = await asyncio.to_thread(Store.open, data_dir / "lightbox.db")
        self.store = store
        device_id = await asyncio.to_thread(device_identity, store, cfg)
        settings = await asyncio.to_thread(initial_settings, store, cfg)
        state = await asyncio.to_thread(store.load_state) or State()
        media = MediaLibrary(data_dir / "media", store)
        self.pairing = Pairing(store)
        service = LightBoxService(
            store=store,
            media=media,
            device_id=device_id,
            settings=settings,
            state=state,
            driver_factory=self._driver_factory,
        )
        self.service = service
        await service.start()

        # MQTT: the given broker, or an embedded one
        embedded = cfg.mqtt_url is None
        if embedded:
            broker = EmbeddedBroker(
                cfg.embedded_broker_host, cfg.embedded_broker_port, data_dir=data_dir / "broker"
            )
            await broker.start()
            self._broker = broker
            mqtt_url = broker.url
        else:
            assert cfg.mqtt_url is not None
            mqtt_url = cfg.mqtt_url
        mqtt_settings = MqttSettings(
            url=mqtt_url,
            username=cfg.mqtt_username,
            password=cfg.mqtt_password,
            ca_file=cfg.mqtt_ca_file,
            cert_file=cfg.mqtt_cert_file,
            key_file=cfg.mqtt_key_file,
            topic_prefix=cfg.mqtt_topic_prefix,
        )
        link = MqttLink(mqtt_settings, device_id, service, info=service.info)
        self._link = link
        service.mqtt_connected = lambda: link.connected
        service.events.on_event(
            lambda event: link.publish_state(event.state) if event.state is not None else None
        )
        self._tasks.append(asyncio.create_task(link.run(), name="mqtt"))
        updates = None
        if cfg.cloud_url:
            from lightbox.edge.cloud_link import CloudLink
            from lightbox.edge.sync import SyncAgent, TelemetryReporter
            from lightbox.edge.update.cloud_check import prepare_updates

            updates = prepare_updates(self)  # None unless the launcher started us from a slot
            sync = SyncAgent(store, service)
            telemetry = TelemetryReporter(service, refused=lambda: sync.refused)
            await sync.start()
            telemetry.start()
            self._cloud_parts = [telemetry, sync]
            cloud = CloudLink(
                cfg.cloud_url,
                store,
                service,
                mqtt_ca_file=cfg.cloud_mqtt_ca_file,
                extensions=[sync, telemetry, *([updates] if updates is not None else [])],
            )
            self.cloud = cloud
            self._tasks.append(asyncio.create_task(cloud.run(), name="cloud"))

        # HTTP

        app = create_app(service, max_upload_bytes=cfg.max_upload_bytes, static_dir=WEB_APP_DIR)
        server = _QuietServer(
            uvicorn.Config(
                app,
                host=cfg.http_host,
                port=cfg.http_port,
                log_config=None,
                access_log=False,
                lifespan="off",
                ws="websockets-sansio",
            )
        )
        self._server = server
        self._tasks.append(asyncio.create_task(server.serve(), name="http"))
        while not server.started:
            if self._tasks[-1].done():
                await self._tasks[-1]  # raises the bind error
            await asyncio.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        host = "127.0.0.1" if cfg.http_host in ("0.0.0.0", "::") else cfg.http_host
        self.endpoints = Endpoints(f"http://{host}:{port}", mqtt_url, embedded)
        await self._start_local_connectivity(service, port)
        if updates is not None:
            from lightbox.edge.update.cloud_check import start_update_agent

            self._tasks.append(start_update_agent(self, updates))
        # Everything built so far lives as long as the service: keep it out of the cyclic
        # collector's sweeps, which otherwise pause the event loop for milliseconds.
        aio.freeze_heap()
        # The render thread waits for the GIL after a change wakes it; Python's default
        # 5 ms switch interval would be the latency tail of every command under load.
        sys.setswitchinterval(0.001)
        self.phase = Phase.RUNNING
        log.info("LightBox %s running: %s, MQTT %s", device_id, self.endpoints.http_url, mqtt_url)
        return self.endpoints

    async def _start_local_connectivity(self, service: LightBoxService, port: int) -> None:
        """mDNS advertisement and Improv provisioning over BLE; neither is required."""
        cfg = self.config
        if cfg.mdns_enabled:
            from lightbox.edge.discovery import Advertiser

            advertiser = Advertiser(
                device_id=service.device_id,
                name=service.settings.name,
                port=port,
                paired=service.paired,
                interfaces=cfg.mdns_interfaces,
            )
            try:
                await advertiser.start()
            except Exception as err:  # no multicast-capable interface, say
                log.warning("mDNS advertisement off: %s", err)
            else:
                self._advertiser = advertiser
                service.events.on_event(
                    lambda e: (
                        self._spawn(advertiser.update(name=service.settings.name))
                        if e.topic in ("settings", "tokens")
                        else None
                    )
                )
        if cfg.ble_enabled:
            await self._start_ble(service, port)

    async def _start_ble(self, service: LightBoxService, port: int) -> None:
        from lightbox import __version__
        from lightbox.edge.ble import BleError, BleProvisioning
        from lightbox.edge.wifi.networkmanager import NetworkManagerWifi
        from lightbox.protocol import IdentifyCommand, SettingsCommand

        cfg = self.config
        assert self.pairing is not None
        pairing = self.pairing

        async def identify() -> None:
            await service.execute(IdentifyCommand(), origin="ble")

        async def set_name(name: str) -> None:
            settings = service.settings.model_copy(update={"name": name})
            result = await service.execute(SettingsCommand(settings=settings), origin="ble")
            if not result.ok and result.error is not None:
                raise ValueError(result.error.message)

        async def show_code(code: str | None) -> None:
            await service.show_notice(code, seconds=cfg.ble_authorization_timeout_s)

        ble = BleProvisioning(
            wifi=NetworkManagerWifi(),
            pairing_code=pairing.issue,
            version=__version__,
            device_name=lambda: service.settings.name,
            set_device_name=set_name,
            identify=identify,
            show_code=show_code,
            adapter=cfg.ble_adapter,
            gpio_button=cfg.gpio_button,
            http_port=port,
            authorization_timeout=cfg.ble_authorization_timeout_s,
        )
        try:
            await ble.start()
        except BleError as err:
            log.warning("BLE provisioning off: %s", err)
            return
        self._ble = ble

    def _spawn(self, coro: Coroutine[Any, Any, object]) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def stop(self) -> None:
        if self.phase in (Phase.STOPPING, Phase.STOPPED):
            await self._stopped.wait()
            return
        self.phase = Phase.STOPPING
        timeout = self.config.shutdown_timeout_s / 4
        server = self._server
        if server is not None:
            server.should_exit = True  # type: ignore[attr-defined]
        for part in (self._ble, self._advertiser):
            if part is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(part.stop(), timeout)
        link = self._link
        if link is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(link.stop(), timeout)  # type: ignore[attr-defined]
        if self.cloud is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.cloud.stop(timeout), timeout)
        for part in self._cloud_parts:  # telemetry, then the sync agent
            with contextlib.suppress(Exception):
                await asyncio.wait_for(part.stop(), timeout)
        for task in self._tasks:
            if task.get_name() != "http":
                task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout)
        if self.service is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.service.stop(), timeout)
        if self.store is not None:
            await asyncio.to_thread(self.store.close)
        if self._broker is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._broker.stop(), timeout)  # type: ignore[attr-defined]
        self.phase = Phase.STOPPED
        self._stopped.set()
        log.info("LightBox stopped")

    async def run_until_signal(self) -> None:
        """Run until SIGINT or SIGTERM, then stop in stages."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        waiters = [asyncio.create_task(stop.wait())] + [
            t for t in self._tasks if t.get_name() == "http"
        ]
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        await self.stop()
