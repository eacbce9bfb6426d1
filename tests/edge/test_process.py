"""`lightbox edge run` as a real process: start, serve, SIGTERM, kill -9, restart."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Box:
    """One `lightbox edge run` process on a data dir."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir.parent / "lightbox.log"
        self.log = data_dir.parent / "lightbox.log"

    def start(self) -> None:
        env = dict(os.environ, LIGHTBOX_EMBEDDED_BROKER_PORT="0", LIGHTBOX_LOG_LEVEL="warning")
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "lightbox",
                    "edge",
                    "run",
                    "--data-dir",
                    str(self.data_dir),
                    "--http-host",
                    "127.0.0.1",
                    "--http-port",
                    str(self.port),
                    "--driver",
                    "null",
                    "--size",
                    "16x8",
                    "--device-id",
                    "proc-test",
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text(errors="replace")
            try:
                if httpx.get(f"{self.url}/api/v1/info", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("lightbox edge run did not answer within 30 s")

    def token(self) -> str:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "lightbox",
                "edge",
                "token",
                "create",
                "--data-dir",
                str(self.data_dir),
                "--name",
                "test",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(20)


def brokers_of(data_dir: Path) -> list[int]:
    """Pids of the mosquitto processes whose persistence lives in ``data_dir``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
            if not args or not args[0].endswith(b"mosquitto") or b"-c" not in args:
                continue
            config = Path(args[args.index(b"-c") + 1].decode()).read_text()
        except (OSError, IndexError):
            continue
        if str(data_dir) in config:
            pids.append(int(entry.name))
    return pids


def wait_no_broker(data_dir: Path, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while brokers_of(data_dir):
        assert time.monotonic() < deadline, (
            f"the embedded broker outlived its LightBox: {brokers_of(data_dir)}"
        )
        time.sleep(0.05)


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Box]:
    b = Box(tmp_path / "data")
    yield b
    if b.proc is not None and b.proc.poll() is None:
        b.proc.kill()
        b.proc.wait(10)


def test_sigterm_stops_cleanly_and_a_restart_shows_the_same_scene(box: Box) -> None:
    box.start()
    token = box.token()
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{box.url}/api/v1/state", timeout=5).status_code == 401
    scene = {"type": "solid", "color": "#123456"}
    reply = httpx.post(
        f"{box.url}/api/v1/commands",
        headers=headers,
        timeout=10,
        json={"type": "set", "scene": scene, "brightness": 77},
    )
    assert reply.status_code == 200, reply.text
    assert box.stop(signal.SIGTERM) == 0
    box.start()
    state = httpx.get(f"{box.url}/api/v1/state", headers=headers, timeout=5).json()
    assert state["scene"] == scene
    assert state["brightness"] == 77
    frame = httpx.get(f"{box.url}/api/v1/frame.png", headers=headers, timeout=5)
    assert frame.headers["content-type"] == "image/png"


def test_kill_9_during_writes_loses_no_acknowledged_change(box: Box) -> None:
    rng = random.Random(os.environ.get("LIGHTBOX_CRASH_SEED", "7"))
    box.start()
    assert len(brokers_of(box.data_dir)) == 1  # the embedded broker of `make demo`
    headers = {"Authorization": f"Bearer {box.token()}"}
    acked = 0
    for _round in range(3):
        deadline = time.monotonic() + rng.uniform(0.2, 1.0)
        with httpx.Client(base_url=box.url, headers=headers, timeout=5) as client:
            while time.monotonic() < deadline:
                value = (acked % 250) + 1
                reply = client.post(
                    "/api/v1/commands",
                    json={
                        "id": f"k{acked}",
                        "type": "set",
                        "brightness": value,
                        "scene": {"type": "solid", "color": f"#{value:02x}0000"},
                    },
                )
                assert reply.status_code == 200, reply.text
                acked += 1
        box.stop(signal.SIGKILL)
        wait_no_broker(box.data_dir)  # it dies with its LightBox (PR_SET_PDEATHSIG)
        box.start()
        state = httpx.get(f"{box.url}/api/v1/state", headers=headers, timeout=5).json()
        last = ((acked - 1) % 250) + 1
        assert state["brightness"] == last, f"after kill -9: {state['brightness']} != {last}"
        assert state["scene"]["color"] == f"#{last:02x}0000"
        # every acknowledged id is remembered: sending one again changes nothing
        again = httpx.post(
            f"{box.url}/api/v1/commands",
            headers=headers,
            timeout=5,
            json={"id": "k0", "type": "set", "brightness": 1},
        )
        assert again.status_code == 200
        assert (
            httpx.get(f"{box.url}/api/v1/state", headers=headers, timeout=5).json()["brightness"]
            == last
        )
    assert acked > 3
