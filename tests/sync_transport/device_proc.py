"""A LightBox with its sync agent in a process of its own (killed with SIGKILL by tests).

``python -m tests.sync_transport.device_proc <dir> <device_id> <mqtt_url> edit|idle``

It reuses the registration stored in ``<dir>/lightbox.db`` (never calls the cloud's HTTP),
prints ``ready`` once connected, and in ``edit`` mode saves presets ``p0``, ``p1``...
printing ``saved <id>`` after the service acknowledged each one.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import httpx

from lightbox.edge.cloud_link import CloudLink
from lightbox.edge.media import MediaLibrary
from lightbox.edge.service import LightBoxService
from lightbox.edge.store import Store
from lightbox.edge.sync import SyncAgent
from lightbox.protocol import Settings, State, parse_command
from lightbox.protocol.settings import NullDriver


async def main(directory: Path, device_id: str, mqtt_url: str, mode: str) -> None:
    store = Store.open(directory / "lightbox.db")
    service = LightBoxService(
        store=store,
        media=MediaLibrary(directory / "media", store),
        device_id=device_id,
        settings=store.load_settings() or Settings(driver=NullDriver(), name="Kitchen"),
        state=store.load_state() or State(),
        seed=1,
    )
    await service.start()
    agent = SyncAgent(store, service, batch_s=0.05, ack_timeout_s=1.0)
    await agent.start()
    async with httpx.AsyncClient() as http:
        link = CloudLink(
            "http://cloud.test",
            store,
            service,
            http=http,
            mqtt_url=mqtt_url,
            retry_min_s=0.05,
            retry_max_s=0.3,
            check_every_s=0.05,
            mqtt_reconnect_max_s=0.5,
            extensions=[agent],
        )
        task = asyncio.create_task(link.run())
        await link.wait_connected(20)
        print("ready", flush=True)
        n = 0
        while mode == "edit":
            command = parse_command(
                {
                    "type": "preset.save",
                    "preset": {
                        "id": f"p{n}",
                        "name": f"p{n}",
                        "scene": {"type": "solid", "color": "#102030"},
                    },
                }
            )
            if (await service.execute(command)).ok:
                print(f"saved p{n}", flush=True)
            n += 1
            await asyncio.sleep(0.01)
        await task


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]))
