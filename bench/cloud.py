"""Remote control through the cloud: relay round trip beside the raw broker floor, and the
cloud instance's memory per connected device.

Set-up (all on this machine):

- the cloud broker: our own Mosquitto with dynamic security (:class:`LocalMosquitto`);
- one cloud instance, ``lightbox cloud run`` in its own process (SQLite, that broker), so
  that its RSS is its own;
- ``--devices`` simulated LightBoxes, **one MQTT connection each**, from a tiny asyncio
  MQTT 3.1.1 client in this process (CONNECT with a last will, SUBSCRIBE to its ``cmd``
  topic, retained ``online`` status, and a ``CommandResult`` for every command).

Credentials: creating 10,000 dynsec clients through the admin API is slow, so the
simulated devices all authenticate as *one* bench identity, the broker's cloud service
client (allowed ``lightbox/#``). Every connection still goes through dynsec's password
check and ACL check; what is not measured is 10,000 separate dynsec client records in the
broker. Device rows (owned by one user) are written straight into the database rather
than registered one by one through the API, for the same reason.

Measured, at ``--rate`` commands/s (open loop, random devices):

- **relay**: ``POST /api/v1/devices/{id}/commands`` -> cloud -> broker -> device -> broker ->
  cloud -> HTTP answer;
- **floor**: publish on ``lightbox/<id>/cmd`` -> device -> ``cmd/result`` back, from one
  MQTT client, no cloud in between;
- **memory**: the cloud process's RSS before the devices connect and after they are all
  seen online, divided by the number of devices.

Last line: ``cloud: devices <n>, relay p99 <ms> ms, floor p99 <ms> ms``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt
import httpx

from lightbox.cloud.broker.local import LocalMosquitto, free_port, mosquitto_missing
from lightbox.cloud.db import Device, create_engine, create_sessionmaker
from lightbox.cloud.db.migrate import upgrade

PASSWORD = "bench password 1"
SECRET = "bench-secret-" + "x" * 40


# -- a tiny MQTT 3.1.1 device ------------------------------------------------------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _str(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return len(b).to_bytes(2, "big") + b


def _packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + _varint(len(body)) + body


class SimDevice:
    """One simulated LightBox: one TCP connection, answers every command with ok."""

    def __init__(self, device_id: str, host: str, port: int, user: str, password: str) -> None:
        self.id = device_id
        self.host, self.port, self.user, self.password = host, port, user, password
        self.cmd = f"lightbox/{device_id}/cmd".encode()
        self.result = f"lightbox/{device_id}/cmd/result"
        self.version = 0
        self.pid = 0
        self.writer: asyncio.StreamWriter | None = None
        self.task: asyncio.Task[None] | None = None

    def _next_pid(self) -> int:
        self.pid = self.pid % 65535 + 1
        return self.pid

    def _publish(self, topic: str, payload: bytes, *, retain: bool = False) -> bytes:
        body = _str(topic) + self._next_pid().to_bytes(2, "big") + payload
        return _packet(0x32 | (1 if retain else 0), body)

    async def connect(self) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        self.writer = writer
        status = f"lightbox/{self.id}/status"
        flags = 0x80 | 0x40 | 0x20 | 0x08 | 0x04 | 0x02  # user, pass, will retain+QoS1, clean
        body = (
            _str("MQTT")
            + bytes([4, flags])
            + (0).to_bytes(2, "big")  # no keep-alive: the bench is short
            + _str(f"lightbox-{self.id}")
            + _str(status)
            + _str("offline")
            + _str(self.user)
            + _str(self.password)
        )
        writer.write(_packet(0x10, body))
        first, payload = await self._read(reader)
        if first >> 4 != 2 or payload[1] != 0:
            raise RuntimeError(f"{self.id}: CONNACK refused ({payload!r})")
        writer.write(_packet(0x82, (1).to_bytes(2, "big") + _str(self.cmd) + b"\x01"))
        while (await self._read(reader))[0] >> 4 != 9:  # SUBACK
            pass
        writer.write(self._publish(status, b"online", retain=True))
        await writer.drain()
        self.task = asyncio.create_task(self._serve(reader, writer))

    @staticmethod
    async def _read(reader: asyncio.StreamReader) -> tuple[int, bytes]:
        first = (await reader.readexactly(1))[0]
        length, shift = 0, 0
        while True:
            b = (await reader.readexactly(1))[0]
            length |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        return first, await reader.readexactly(length)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                first, body = await self._read(reader)
                if first >> 4 != 3:
                    continue  # PUBACK, ...
                qos = (first >> 1) & 3
                n = int.from_bytes(body[:2], "big")
                topic, rest = body[2 : 2 + n], body[2 + n :]
                if qos:
                    writer.write(_packet(0x40, rest[:2]))
                    rest = rest[2:]
                if topic != self.cmd:
                    continue
                try:
                    command_id = json.loads(rest).get("id")
                except ValueError:
                    command_id = None
                self.version += 1
                answer = {"id": command_id, "ok": True, "error": None, "version": self.version}
                writer.write(self._publish(self.result, json.dumps(answer).encode()))

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
        if self.writer is not None:
            with contextlib.suppress(Exception):
                self.writer.write(b"\xe0\x00")  # DISCONNECT: no last will
                self.writer.close()


# -- helpers ------------------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def paced(rate: float, seconds: float, one: object) -> list[float]:
    """Start ``one()`` ``rate`` times a second for ``seconds`` (open loop); latencies in ms."""
    assert callable(one)
    total = int(rate * seconds)
    start = time.perf_counter()
    tasks = []
    for i in range(total):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one()))
    results = await asyncio.gather(*tasks, return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        print(f"  {len(errors)} of {total} failed, first: {errors[0]!r}")
    return [r for r in results if isinstance(r, float)]


# -- the bench ----------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> None:
    missing = mosquitto_missing()
    if missing:
        sys.exit(f"cloud bench: {missing}")
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # mosquitto inherits it
    n = args.devices
    if n + 200 > hard:
        sys.exit(f"cloud bench: {n} devices need more than {hard} file descriptors")
    seconds = 5.0 if args.quick else args.seconds
    workdir = Path(tempfile.mkdtemp(prefix="lightbox-bench-cloud-"))
    broker = LocalMosquitto(workdir / "mosquitto")
    broker.start()
    cloud_proc: subprocess.Popen[bytes] | None = None
    devices: list[SimDevice] = []
    try:
        db_url = f"sqlite+aiosqlite:///{workdir / 'cloud.db'}"
        engine = create_engine(db_url)
        await upgrade(engine)
        port = free_port()
        env = {
            **os.environ,
            "LIGHTBOX_CLOUD_JWT_SECRET": SECRET,
            "LIGHTBOX_CLOUD_MQTT_ADMIN_USERNAME": broker.admin_username,
            "LIGHTBOX_CLOUD_MQTT_ADMIN_PASSWORD": broker.admin_password,
            "LIGHTBOX_CLOUD_DEVICE_MQTT_URL": broker.url,
            "LIGHTBOX_CLOUD_LOG_LEVEL": "warning",
        }
        cloud_proc = subprocess.Popen(  # noqa: ASYNC220 (started once, before any load)
            [sys.executable, "-m", "lightbox.cli.main", "cloud", "run",
             "--http-port", str(port), "--database-url", db_url,
             "--mqtt-url", broker.cloud_url, "--data-dir", str(workdir / "cloud")],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        http = httpx.AsyncClient(
            base_url=base, timeout=30, limits=httpx.Limits(max_connections=200)
        )
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get("/healthz")).status_code == 200:
                    break
            if cloud_proc.poll() is not None or time.monotonic() > deadline:
                err = cloud_proc.stderr.read().decode() if cloud_proc.stderr else ""
                sys.exit(f"cloud bench: the cloud did not start: {err[-2000:]}")
            await asyncio.sleep(0.1)
        email = f"bench-{uuid.uuid4().hex[:6]}@example.com"
        r = await http.post("/api/v1/auth/signup", json={"email": email, "password": PASSWORD})
        r.raise_for_status()
        r = await http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        http.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        user_id = uuid.UUID((await http.get("/api/v1/me")).json()["id"])

        ids = [f"bench-{i:05d}" for i in range(n)]
        now = datetime.now(UTC)
        sessions = create_sessionmaker(engine)
        async with sessions() as session, session.begin():
            session.add_all(
                Device(
                    id=device_id,
                    owner_id=user_id,
                    name=device_id,
                    version="bench",
                    hardware="sim",
                    registered_at=now,
                    claimed_at=now,
                    registration_secret_hash="-" * 64,
                )
                for device_id in ids
            )
        await engine.dispose()

        await asyncio.sleep(1.0)
        before = rss_kib(cloud_proc.pid)
        t0 = time.perf_counter()
        devices = [
            SimDevice(d, broker.host, broker.port, broker.cloud_username, broker.cloud_password)
            for d in ids
        ]
        sem = asyncio.Semaphore(200)

        async def connect(d: SimDevice) -> None:
            async with sem:
                await d.connect()

        await asyncio.gather(*(connect(d) for d in devices))
        connected_s = time.perf_counter() - t0
        online = 0
        deadline = time.monotonic() + max(60.0, n / 50)
        while time.monotonic() < deadline:
            listed = (await http.get("/api/v1/devices")).json()
            online = sum(1 for d in listed if d["online"])
            if online >= n:
                break
            await asyncio.sleep(1.0)
        seen_s = time.perf_counter() - t0
        await asyncio.sleep(1.0)
        after = rss_kib(cloud_proc.pid)
        per_device = (after - before) * 1024 / n
        print(
            f"devices: {n} connected in {connected_s:.1f} s, {online} online in the cloud "
            f"after {seen_s:.1f} s"
        )
        print(
            f"cloud RSS: {before / 1024:.1f} MiB before, {after / 1024:.1f} MiB after "
            f"-> {per_device / 1024:.2f} KiB per connected device"
        )

        # floor: the broker round trip, no cloud
        waiting: dict[str, asyncio.Future[float]] = {}
        async with aiomqtt.Client(
            broker.host, broker.port, username=broker.cloud_username,
            password=broker.cloud_password, identifier=f"bench-floor-{uuid.uuid4().hex[:6]}",
        ) as mqtt:  # fmt: skip
            await mqtt.subscribe("lightbox/+/cmd/result", qos=1)

            async def results() -> None:
                async for message in mqtt.messages:
                    raw = message.payload if isinstance(message.payload, bytes) else b"{}"
                    future = waiting.pop(json.loads(raw).get("id") or "", None)
                    if future is not None and not future.done():
                        future.set_result(time.perf_counter())

            reader = asyncio.create_task(results())

            async def floor_one() -> float:
                command_id = uuid.uuid4().hex
                future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
                waiting[command_id] = future
                body = json.dumps({"type": "identify", "id": command_id})
                start = time.perf_counter()
                await mqtt.publish(f"lightbox/{random.choice(ids)}/cmd", body, qos=1)
                return (await asyncio.wait_for(future, 10) - start) * 1000

            floor = await paced(args.rate, seconds, floor_one)
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

        async def relay_one() -> float:
            start = time.perf_counter()
            r = await http.post(
                f"/api/v1/devices/{random.choice(ids)}/commands", json={"type": "identify"}
            )
            r.raise_for_status()
            return (time.perf_counter() - start) * 1000

        relay = await paced(args.rate, seconds, relay_one)
        await http.aclose()
        for name, values in (("floor (broker only)", floor), ("relay (HTTP via cloud)", relay)):
            print(
                f"{name}: {len(values)} commands at {args.rate:g}/s, p50 {pct(values, 0.5):.2f} "
                f"ms, p99 {pct(values, 0.99):.2f} ms, mean {statistics.fmean(values):.2f} ms"
            )
        print(
            f"cloud: devices {n}, relay p99 {pct(relay, 0.99):.1f} ms, "
            f"floor p99 {pct(floor, 0.99):.1f} ms"
        )
    finally:
        for d in devices:
            await d.close()
        if cloud_proc is not None:
            cloud_proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                cloud_proc.wait(10)
            if cloud_proc.stderr is not None:
                cloud_proc.stderr.close()
        broker.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=1000, help="Simulated devices (1000).")
    parser.add_argument("--rate", type=float, default=100.0, help="Commands per second (100).")
    parser.add_argument("--seconds", type=float, default=20.0, help="Seconds per measurement.")
    parser.add_argument("--quick", action="store_true", help="Short runs (under a minute).")
    asyncio.run(main(parser.parse_args()))
