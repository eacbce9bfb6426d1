"""A LightBox MQTT link in a process of its own, for tests that kill it with SIGKILL.

Usage: python -m tests.edge.mqtt.device_process URL PREFIX DEVICE_ID [HANDLER_DELAY_S]
Prints "connected" once online, then serves commands until killed.
"""

from __future__ import annotations

import asyncio
import sys

from lightbox.edge.mqtt import MqttLink, MqttSettings
from tests.edge.mqtt.conftest import FakeHandler


async def main(url: str, prefix: str, device_id: str, delay_s: float) -> None:
    handler = FakeHandler()
    handler.delay_s = delay_s
    settings = MqttSettings(url=url, topic_prefix=prefix, keepalive=5)
    link = MqttLink(settings, device_id, handler)
    task = asyncio.create_task(link.run())
    await link.wait_connected(10)
    print("connected", flush=True)
    await task


if __name__ == "__main__":
    delay = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], delay))
