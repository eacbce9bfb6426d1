"""``make demo``: a LightBox with the emulator, an embedded broker and a showcase playlist.

Everything runs on this machine with no internet: the LightBox service (local API, web app,
live preview), an embedded MQTT broker, and a playlist that rotates through effects,
scrolling text, an animated GIF, a clock and layered scenes. Data lives in ``.demo/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import math
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw
from rich.console import Console

from lightbox import aio
from lightbox.edge.config import EdgeConfig
from lightbox.edge.runtime import EdgeRuntime
from lightbox.edge.service import LightBoxService
from lightbox.protocol import (
    Playlist,
    PlaylistEntry,
    PlaylistSaveCommand,
    PlaylistStartCommand,
    Preset,
    PresetSaveCommand,
    Transition,
)
from lightbox.render.frame import Size

if TYPE_CHECKING:
    from lightbox.cloud.demo import LocalCloud

console = Console()

SHOWCASE: list[tuple[str, str, dict[str, object], float]] = [
    ("plasma", "Plasma", {"type": "effect", "effect": "plasma", "palette": "party"}, 12),
    (
        "hello",
        "Hello text",
        {
            "type": "layers",
            "layers": [
                {"scene": {"type": "effect", "effect": "aurora"}},
                {
                    "scene": {
                        "type": "text",
                        "text": "Hello from LightBox! Grüße · ¡Hola! · Ça va?",
                        "font": "8x16",
                        "speed": 28,
                    }
                },
            ],
        },
        14,
    ),
    ("fire", "Fire", {"type": "effect", "effect": "fire"}, 10),
    ("bounce-gif", "Bouncing GIF", {"type": "gif", "media": "bounce.gif", "fit": "contain"}, 8),
    ("matrix", "Matrix rain", {"type": "effect", "effect": "matrix"}, 10),
    ("clock", "Clock", {"type": "clock", "seconds": True, "date": True}, 8),
    ("metaballs", "Metaballs", {"type": "effect", "effect": "metaballs", "palette": "lava"}, 10),
    ("fireworks", "Fireworks", {"type": "effect", "effect": "fireworks"}, 10),
    ("life", "Game of Life", {"type": "effect", "effect": "life"}, 10),
    ("clock-face", "Clock face", {"type": "effect", "effect": "clock_face"}, 8),
]


def bounce_gif(size: int = 32, frames: int = 24) -> bytes:
    """A small animated GIF made here, so the demo needs no files from anywhere."""
    images = []
    for i in range(frames):
        image = Image.new("RGB", (size, size), (8, 8, 32))
        draw = ImageDraw.Draw(image)
        y = size - 8 - abs(math.sin(math.pi * i / frames)) * (size - 12)
        x = 4 + (size - 12) * i / frames
        hue = int(255 * i / frames)
        draw.ellipse((x, y, x + 8, y + 8), fill=(255, hue, 255 - hue))
        draw.line((0, size - 1, size, size - 1), fill=(80, 80, 120))
        images.append(image)
    out = io.BytesIO()
    images[0].save(out, "GIF", save_all=True, append_images=images[1:], duration=50, loop=0)
    return out.getvalue()


def _free(host: str, port: int) -> int:
    """``port`` if it can be bound on ``host``, else 0 (any free port)."""
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return 0
    return port


async def seed_showcase(service: LightBoxService) -> None:
    """Upload the GIF, save the presets and the playlist, and start it."""
    if not service.media.exists("bounce.gif"):
        await asyncio.to_thread(service.media.add, "bounce.gif", bounce_gif())
    fade = Transition(kind="fade", duration_ms=700)
    for preset_id, name, scene, _ in SHOWCASE:
        preset = Preset.model_validate(
            {"id": preset_id, "name": name, "scene": scene, "transition": fade.model_dump()}
        )
        result = await service.execute(PresetSaveCommand(preset=preset), origin="demo")
        if not result.ok:
            raise RuntimeError(f"demo preset {preset_id}: {result.error}")
    playlist = Playlist(
        id="showcase",
        name="Showcase",
        entries=tuple(PlaylistEntry(preset=p, duration_s=d) for p, _, _, d in SHOWCASE),
    )
    for command in (
        PlaylistSaveCommand(playlist=playlist),
        PlaylistStartCommand(playlist="showcase"),
    ):
        result = await service.execute(command, origin="demo")
        if not result.ok:
            raise RuntimeError(f"demo playlist: {result.error}")


def demo_token(service: LightBoxService) -> str:
    """A fresh token named 'demo' (earlier demo tokens are revoked)."""
    with service.store.transaction() as tx:
        for info in service.store.list_tokens():
            if info.name == "demo":
                tx.revoke_token(info.id)
        _, token = tx.create_token("demo")
    return token


async def _run(host: str, port: int, size: Size, seconds: float, data_dir: Path) -> None:
    from lightbox.cloud.demo import MosquittoMissing, local_cloud

    async with contextlib.AsyncExitStack() as stack:
        try:
            cloud = await stack.enter_async_context(local_cloud(data_dir / "cloud", host=host))
        except MosquittoMissing as err:  # the LightBox works alone; say what is missing
            console.print(f"[yellow]No local cloud:[/yellow] {err}", highlight=False)
            cloud = None
        await _run_lightbox(host, port, size, seconds, data_dir, cloud)


async def _run_lightbox(
    host: str, port: int, size: Size, seconds: float, data_dir: Path, cloud: LocalCloud | None
) -> None:
    config = EdgeConfig(
        data_dir=data_dir,
        http_host=host,
        http_port=_free(host, port),
        mqtt_url=None,
        embedded_broker_host=host,
        embedded_broker_port=_free(host, 1883),
        driver="emulator",
        size=str(size),
        device_id="lightbox-demo",
        name="LightBox demo",
        mdns_enabled=True,
        mdns_interfaces=["127.0.0.1"],  # the demo stays on this machine
        ble_enabled=False,
        cloud_url=cloud.url if cloud is not None else None,
    )
    runtime = EdgeRuntime(config)
    try:
        endpoints = await runtime.start()
        service = runtime.service
        assert service is not None
        await seed_showcase(service)
        token = await asyncio.to_thread(demo_token, service)
        claimed = await _claim(runtime, cloud)
        mqtt = endpoints.mqtt_url.split("//", 1)[1]
        mqtt_host, mqtt_port = mqtt.rsplit(":", 1)
        lines = [
            "[bold]LightBox demo[/bold] is running (Ctrl-C stops it)",
            f"  Web app     {endpoints.http_url}/#token={token}",
            f"  Live frame  {endpoints.http_url}/api/v1/frame.png?scale=8  (Bearer token)",
            f"  API docs    {endpoints.http_url}/docs",
            f"  MQTT        {endpoints.mqtt_url}  topics lightbox/{service.device_id}/#",
            f"  Token       {token}",
            f"  Try         mosquitto_pub -h {mqtt_host} -p {mqtt_port} "
            f"-t lightbox/{service.device_id}/cmd "
            """-m '{"type":"set","scene":{"type":"effect","effect":"fire"}}'""",
        ]
        if cloud is not None:
            lines += [
                f"  Dashboard   {cloud.dashboard_url}  (the LightBox is {claimed})",
                f"  Account     {cloud.email} / {cloud.password}",
                f"  Cloud API   {cloud.url}/docs",
            ]
        for line in lines:
            console.print(line, soft_wrap=True, highlight=False)
        if seconds > 0:
            await asyncio.sleep(seconds)
        else:
            await runtime.run_until_signal()
    finally:
        await runtime.stop()


async def _claim(runtime: EdgeRuntime, cloud: LocalCloud | None) -> str:
    """Claim the demo LightBox for the demo account; say how it went."""
    if cloud is None or runtime.cloud is None:
        return "not in a cloud"
    try:
        await runtime.cloud.wait_connected(30)
        code = await runtime.cloud.claim_code()
        await cloud.claim(code.claim_code)
    except Exception as err:  # the LAN demo goes on without the cloud
        return f"registered; claim it with its code ({err})"
    return "claimed by the demo account"


def run_demo(
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    size: Size | None = None,
    seconds: float = 0,
    data_dir: Path = Path(".demo"),
) -> None:
    from lightbox import logs

    logs.configure("warning")
    with contextlib.suppress(KeyboardInterrupt):
        aio.run(_run(host, port, size or Size(64, 32), seconds, data_dir))
