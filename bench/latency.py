"""Command -> frame shown by the driver, over MQTT and over REST, beside the broker floor.

A LightBox runs in a process of its own with a recording driver and the render loop at
60 fps; the table also gives its CPU time per command (all its threads, above what it
uses when idle).
Each command sets a solid colour that encodes its sequence number; the driver notes when
a frame first shows that number (or a later one: a newer command supersedes older ones
that arrived within the same frame). The floor is the one-way latency of a plain QoS 1
publish through the same broker, measured the same way in the same run. Ten commands
over each path go first, unmeasured: they take the one-time cost of the first command a
process serves.

    python bench/latency.py --mqtt-url mqtt://127.0.0.1:1883 [--quick]

The last line: ``latency: mqtt p99 <ms> ms, floor p99 <ms> ms, rest p99 <ms> ms, lost <n>``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from lightbox import aio
from lightbox.drivers.base import Driver
from lightbox.edge.config import EdgeConfig
from lightbox.edge.mqtt.settings import parse_mqtt_url
from lightbox.edge.runtime import EdgeRuntime
from lightbox.protocol import Settings, Stats, parse_command
from lightbox.render.output import OutputFrame
from machine import describe  # bench/machine.py, beside this script

console = Console()
RATES = (10, 100, 500)
WARM_UP, WARM_UP_RATE = 10, 50
"""Commands sent over each path before the measured runs, and their rate."""


class Shown:
    """When each sequence number first reached the driver, in memory both processes share.

    ``times[seq]`` is the ``time.perf_counter()`` (CLOCK_MONOTONIC: one clock for every
    process on the machine) of the first frame that showed ``seq``; a newer command
    supersedes older ones that arrived within the same frame, so only a new maximum is
    noted. Writing two numbers costs the LightBox's driver nothing measurable (a queue to
    the bench process cost it a feeder thread).
    """

    def __init__(self, capacity: int, ctx: Any) -> None:
        self.times = ctx.RawArray("d", capacity)
        self.max = ctx.RawValue("q", 0)

    def note(self, seq: int, now: float) -> None:
        if self.max.value < seq < len(self.times):
            self.times[seq] = now
            self.max.value = seq

    def reset(self) -> None:
        self.max.value = 0
        self.times[:] = [0.0] * len(self.times)  # e.g. colours of the start-up scene

    def shown_at(self, first: int, last: int) -> list[float | None]:
        """For each seq in ``first..last``: when a frame first showed it or a later one."""
        times = self.times[first : len(self.times)]
        out: list[float | None] = [None] * (last - first + 1)
        best: float | None = None
        for i in range(len(times) - 1, -1, -1):
            if times[i] > 0 and (best is None or times[i] < best):
                best = times[i]
            if i < len(out):
                out[i] = best
        return out


class RecordingDriver(Driver):
    """Notes when each sequence number (encoded in pixel 0,0) first reaches the driver."""

    layout = "canvas"

    def __init__(self, shown: Shown) -> None:
        super().__init__()
        self.shown = shown

    def show(self, frame: OutputFrame) -> None:
        now = time.perf_counter()
        r, g, b = (int(v) for v in frame.pixels[0, 0])
        self.shown.note((r << 16) | (g << 8) | b, now)


@dataclass
class Run:
    name: str
    rate: int
    sent: dict[int, float] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    lost: int = 0
    cpu_s: float | None = None  # the LightBox process's CPU time during the run

    def p(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        data = sorted(self.latencies)  # nearest rank: of 100, the p99 is the 99th
        return data[max(0, math.ceil(q * len(data)) - 1)] * 1000


def colour(seq: int) -> str:
    return f"#{(seq >> 16) & 255:02x}{(seq >> 8) & 255:02x}{seq & 255:02x}"


def command(seq: int) -> dict[str, Any]:
    return {
        "id": f"bench-{seq}",
        "type": "set",
        "scene": {"type": "solid", "color": colour(seq)},
        "transition": {"kind": "cut", "duration_ms": 0},
    }


def paho_client(url: str, client_id: str) -> paho.Client:
    tls, host, port, user, password = parse_mqtt_url(url)
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    if user:
        client.username_pw_set(user, password)
    if tls:
        client.tls_set()
    client.connect(host, port, keepalive=30)
    client.loop_start()
    return client


def pace(rate: int, count: int, send: Callable[[int], None], progress: Progress, task: Any) -> None:
    start = time.perf_counter()
    for i in range(count):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        send(i)
        progress.advance(task)


def floor_run(url: str, rate: int, count: int, progress: Progress) -> Run:
    run = Run("floor", rate)
    topic = f"bench/{uuid.uuid4().hex}/floor"
    received: dict[int, float] = {}
    done = threading.Event()

    def on_message(_c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        received[int(msg.payload)] = time.perf_counter()
        if len(received) >= count:
            done.set()

    sub = paho_client(url, f"bench-floor-sub-{uuid.uuid4().hex[:8]}")
    sub.on_message = on_message
    sub.subscribe(topic, qos=1)
    time.sleep(0.3)
    pub = paho_client(url, f"bench-floor-pub-{uuid.uuid4().hex[:8]}")
    task = progress.add_task(f"floor  {rate:>4}/s", total=count)

    def send(i: int) -> None:
        run.sent[i] = time.perf_counter()
        pub.publish(topic, str(i).encode(), qos=1)

    pace(rate, count, send, progress, task)
    done.wait(10)
    for i, sent in run.sent.items():
        if i in received:
            run.latencies.append(received[i] - sent)
        else:
            run.lost += 1
    for client in (pub, sub):
        client.loop_stop()
        client.disconnect()
    return run


def settle(shown: Shown, run: Run, first_seq: int, results: dict[str, dict[str, Any]]) -> None:
    deadline = time.perf_counter() + 10
    last = max(run.sent) if run.sent else first_seq
    while time.perf_counter() < deadline and shown.max.value < last:
        time.sleep(0.01)
    at = shown.shown_at(first_seq, last)
    for seq, sent in run.sent.items():
        when = at[seq - first_seq]
        ok = results.get(f"bench-{seq}", {}).get("ok") is not False
        if when is None or not ok:
            run.lost += 1
        else:
            run.latencies.append(when - sent)


def mqtt_run(
    url: str,
    device_id: str,
    shown: Shown,
    seq0: int,
    rate: int,
    count: int,
    progress: Progress,
) -> Run:
    run = Run("mqtt", rate)
    results: dict[str, dict[str, Any]] = {}
    # results on their own connection, as the floor's subscriber: a publisher that also
    # receives a stream shares paho's locks with it and delays its own publishes
    listener = paho_client(url, f"bench-results-{uuid.uuid4().hex[:8]}")
    listener.on_message = lambda _c, _u, msg: results.__setitem__(
        json.loads(msg.payload).get("id") or "", json.loads(msg.payload)
    )
    listener.subscribe(f"lightbox/{device_id}/cmd/result", qos=1)
    client = paho_client(url, f"bench-mqtt-{uuid.uuid4().hex[:8]}")
    time.sleep(0.3)
    task = progress.add_task(f"mqtt   {rate:>4}/s", total=count)

    def send(i: int) -> None:
        seq = seq0 + i
        run.sent[seq] = time.perf_counter()
        client.publish(f"lightbox/{device_id}/cmd", json.dumps(command(seq)), qos=1)

    pace(rate, count, send, progress, task)
    settle(shown, run, seq0, results)
    deadline = time.perf_counter() + 10
    while len(results) < count and time.perf_counter() < deadline:
        time.sleep(0.02)
    run.lost = max(run.lost, count - len(results))
    for c in (client, listener):
        c.loop_stop()
        c.disconnect()
    return run


class HttpConnection:
    """One keep-alive HTTP/1.1 connection, requests written and responses read by hand.

    httpx spent about 3 ms of the bench's CPU per request: at a few hundred requests a
    second the bench, not the LightBox, was the bottleneck (and its queueing counted as
    latency). This sends the same request bytes with next to no client-side cost.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> HttpConnection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def post(self, head: bytes, body: bytes) -> tuple[int, bytes]:
        self.writer.write(head + str(len(body)).encode() + b"\r\n\r\n" + body)
        status_line = await self.reader.readuntil(b"\r\n")
        status = int(status_line.split()[1])
        length = 0
        while (line := await self.reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


def rest_run(
    base: str,
    token: str,
    shown: Shown,
    seq0: int,
    rate: int,
    count: int,
    progress: Progress,
) -> Run:
    run = Run("rest", rate)
    results: dict[str, dict[str, Any]] = {}
    task = progress.add_task(f"rest   {rate:>4}/s", total=count)
    url = httpx.URL(base)
    host, port = url.host, url.port or 80
    head = (
        f"POST /api/v1/commands HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        "Content-Length: "
    ).encode()

    async def main() -> None:
        # up to 32 requests at once, each on a connection of its own (as a browser would)
        idle: asyncio.Queue[HttpConnection] = asyncio.Queue()
        for _ in range(32):
            idle.put_nowait(await HttpConnection.open(host, port))

        async def one(seq: int) -> None:
            conn = await idle.get()
            try:
                status, body = await conn.post(head, json.dumps(command(seq)).encode())
            except (OSError, asyncio.IncompleteReadError, ValueError) as err:
                results[f"bench-{seq}"] = {"ok": False, "error": repr(err)}  # counted as lost
                conn.close()
                idle.put_nowait(await HttpConnection.open(host, port))
                return
            idle.put_nowait(conn)
            results[f"bench-{seq}"] = json.loads(body) | {"ok": status == 200}

        tasks = []
        start = time.perf_counter()
        for i in range(count):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            seq = seq0 + i
            run.sent[seq] = time.perf_counter()
            tasks.append(asyncio.create_task(one(seq)))
            progress.advance(task)
        await asyncio.gather(*tasks)
        while not idle.empty():
            idle.get_nowait().close()

    asyncio.run(main())
    settle(shown, run, seq0, results)
    return run


async def start_lightbox(
    url: str, driver: RecordingDriver, data_dir: Path
) -> tuple[EdgeRuntime, str]:
    device_id = f"bench-{uuid.uuid4().hex[:8]}"
    config = EdgeConfig(
        data_dir=data_dir,
        http_host="127.0.0.1",
        http_port=0,
        mqtt_url=url,
        device_id=device_id,
        driver="null",
        size="32x16",
        fps=60,
        log_level="warning",
    )

    def factory(settings: Settings) -> Driver:
        return driver

    runtime = EdgeRuntime(config, driver_factory=factory)
    await runtime.start()
    return runtime, device_id


def serve_lightbox(url: str, shown: Shown, conn: Any) -> None:
    """The LightBox under test, in its own process (as on a device): no shared GIL.

    It answers ``"cpu"`` on ``conn`` with its CPU time so far (every thread), and
    ``"stop"`` with its render stats, then stops.
    """

    async def run() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            driver = RecordingDriver(shown)
            runtime, device_id = await start_lightbox(url, driver, Path(tmp))
            service = runtime.service
            assert service is not None
            assert runtime.endpoints is not None
            with service.store.transaction() as tx:
                _, token = tx.create_token("bench")
            link: Any = runtime._link
            await link.wait_connected(10)
            # full brightness (the driver reads colours after it), black = sequence 0
            first = command(0) | {"brightness": 255}
            await service.execute(parse_command(first), origin="bench")
            await asyncio.sleep(0.2)
            shown.reset()  # forget the start-up scene's colours
            conn.send((runtime.endpoints.http_url, device_id, token))
            while await asyncio.to_thread(conn.recv) == "cpu":
                conn.send(time.process_time())
            conn.send(service.stats().model_dump())
            await runtime.stop()

    aio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mqtt-url", default="mqtt://127.0.0.1:1883")
    parser.add_argument("--quick", action="store_true", help="under a minute")
    parser.add_argument("--rates", default=",".join(map(str, RATES)))
    parser.add_argument("--seconds", type=float, default=None, help="per rate and path")
    parser.add_argument("--paths", default="mqtt,rest", help="which of mqtt,rest to measure")
    args = parser.parse_args()
    print(describe())
    rates = [int(r) for r in args.rates.split(",")]
    paths = set(args.paths.split(","))
    if not paths or not paths <= {"mqtt", "rest"}:
        parser.error("--paths takes mqtt, rest or both")
    seconds = args.seconds or (2.0 if args.quick else 10.0)
    counts = {rate: max(5, int(rate * seconds)) for rate in rates}

    ctx = multiprocessing.get_context("spawn")
    shown = Shown((sum(counts.values()) + WARM_UP) * len(paths) + 2, ctx)
    parent, child = ctx.Pipe()
    lightbox = ctx.Process(target=serve_lightbox, args=(args.mqtt_url, shown, child), daemon=True)
    lightbox.start()
    if not parent.poll(60):
        raise SystemExit("the LightBox did not start within 60 s")
    http_url, device_id, token = parent.recv()

    def lightbox_cpu() -> float:
        parent.send("cpu")
        return float(parent.recv())

    def measured(run: Callable[..., Run], *args: Any) -> Run:
        before, started = lightbox_cpu(), time.perf_counter()
        result = run(*args)
        idle = idle_cpu * (time.perf_counter() - started)
        result.cpu_s = lightbox_cpu() - before - idle
        return result

    # what the LightBox spends with no command (the render loop at 60 fps, keep-alives)
    before, started = lightbox_cpu(), time.perf_counter()
    time.sleep(2.0)
    idle_cpu = (lightbox_cpu() - before) / (time.perf_counter() - started)
    runs: list[Run] = []
    seq = 1
    with Progress(console=console, transient=True) as progress:
        # not measured: the first command a process serves on a path pays once for first
        # use (2-3 ms over MQTT, ~12 ms over REST), which is not what a stream's p99 is about
        if "mqtt" in paths:
            mqtt_run(args.mqtt_url, device_id, shown, seq, WARM_UP_RATE, WARM_UP, progress)
            seq += WARM_UP
        if "rest" in paths:
            rest_run(http_url, token, shown, seq, WARM_UP_RATE, WARM_UP, progress)
            seq += WARM_UP
        for rate in rates:
            count = counts[rate]
            runs.append(floor_run(args.mqtt_url, rate, count, progress))
            if "mqtt" in paths:
                url = args.mqtt_url
                runs.append(measured(mqtt_run, url, device_id, shown, seq, rate, count, progress))
                seq += count
            if "rest" in paths:
                runs.append(measured(rest_run, http_url, token, shown, seq, rate, count, progress))
                seq += count
    parent.send("stop")
    stats = Stats.model_validate(parent.recv())
    lightbox.join(30)

    table = Table(title=f"command -> frame shown (render loop {stats.target_fps} fps)")
    for col in ("path", "rate/s", "n", "p50 ms", "p99 ms", "lost", "CPU/cmd above idle"):
        table.add_column(col, justify="right")
    for run in runs:
        table.add_row(
            run.name,
            str(run.rate),
            str(len(run.sent)),
            f"{run.p(0.5):.2f}",
            f"{run.p(0.99):.2f}",
            str(run.lost),
            f"{run.cpu_s / len(run.sent) * 1e6:.0f} us" if run.cpu_s is not None else "",
        )
    console.print(table)
    console.print(
        f"render loop: {stats.shown} frames shown, {stats.dropped} dropped; "
        f"LightBox idle: {idle_cpu * 100:.1f}% of a core"
    )

    def worst(name: str) -> float:
        return max((r.p(0.99) for r in runs if r.name == name), default=float("nan"))

    lost = sum(r.lost for r in runs if r.name != "floor")
    print(
        f"latency: mqtt p99 {worst('mqtt'):.2f} ms, floor p99 {worst('floor'):.2f} ms, "
        f"rest p99 {worst('rest'):.2f} ms, lost {lost}"
    )


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
