"""A LightBox mDNS peer for the network-namespace tests (run inside a namespace).

``advertise --id ID --name NAME --port N [--poll S]``: advertise, print ``READY``, then obey
stdin lines: ``rename NEW NAME``, ``paired 0|1``, ``update``, ``quit`` (each answered with
``OK <announced: true|false>``).

``discover [--timeout S]``: print the LightBoxes found as one JSON list.

``watch [--seconds S]``: browse and print one JSON object per line for every change:
``{"event": "added"|"updated", "found": {...}}`` or ``{"event": "removed", "service": ...}``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys

from zeroconf import IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from lightbox.edge.discovery import SERVICE_TYPE, Advertiser, _found, discover


def emit(obj: object) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def advertise(args: argparse.Namespace) -> None:
    paired = [False]
    advertiser = Advertiser(
        device_id=args.id,
        name=args.name,
        port=args.port,
        version="9.9.9",
        paired=lambda: paired[0],
        poll_s=args.poll,
    )
    await advertiser.start()
    emit({"ready": advertiser.service_name})
    loop = asyncio.get_running_loop()
    try:
        while True:
            line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
            if not line or line == "quit":
                break
            verb, _, rest = line.partition(" ")
            if verb == "rename":
                announced = await advertiser.update(name=rest)
            elif verb == "paired":
                before = advertiser.announcements
                paired[0] = rest == "1"
                # the advertiser's own poll may announce the change before this call does
                announced = await advertiser.update() or advertiser.announcements > before
            else:
                announced = await advertiser.update()
            emit({"ok": announced, "service": advertiser.service_name})
    finally:
        await advertiser.stop()


async def discover_once(args: argparse.Namespace) -> None:
    found = await discover(timeout=args.timeout)
    emit([dataclasses.asdict(f) for f in found])


async def watch(args: argparse.Namespace) -> None:
    azc = AsyncZeroconf(ip_version=IPVersion.V4Only)
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()

    async def resolve(name: str, event: str) -> None:
        info = AsyncServiceInfo(SERVICE_TYPE, name)
        if await info.async_request(azc.zeroconf, 2000):
            found = _found(info)
            if found is not None:
                emit({"event": event, "found": dataclasses.asdict(found)})

    def on_change(
        zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        if state_change is ServiceStateChange.Removed:
            emit({"event": "removed", "service": name})
            return
        event = "added" if state_change is ServiceStateChange.Added else "updated"
        task = loop.create_task(resolve(name, event))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    browser = AsyncServiceBrowser(azc.zeroconf, SERVICE_TYPE, handlers=[on_change])
    emit({"watching": True})
    try:
        await asyncio.sleep(args.seconds)
    finally:
        await browser.async_cancel()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await azc.async_close()


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="mode", required=True)
    adv = sub.add_parser("advertise")
    adv.add_argument("--id", required=True)
    adv.add_argument("--name", required=True)
    adv.add_argument("--port", type=int, default=8080)
    adv.add_argument("--poll", type=float, default=30.0)
    disc = sub.add_parser("discover")
    disc.add_argument("--timeout", type=float, default=2.0)
    wat = sub.add_parser("watch")
    wat.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()
    run = {"advertise": advertise, "discover": discover_once, "watch": watch}[args.mode]
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
