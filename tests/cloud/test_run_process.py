"""`lightbox cloud run` as a real process: it serves, runs on uvloop, stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_cloud_run_serves_and_stops_cleanly(tmp_path: Path) -> None:
    pytest.importorskip("uvloop")
    port = free_port()
    log = tmp_path / "cloud.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIGHTBOX_CLOUD_")}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lightbox",
                "cloud",
                "run",
                "--dev",
                "--data-dir",
                str(tmp_path),
                "--database-url",
                f"sqlite+aiosqlite:///{tmp_path / 'cloud.db'}",
                "--http-host",
                "127.0.0.1",
                "--http-port",
                str(port),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, log.read_text(errors="replace")
            try:
                reply = httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1)
                if reply.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "lightbox cloud run did not answer in 30 s"
            time.sleep(0.1)
        assert reply.json()["info"]["title"] == "LightBox cloud API"
        proc.send_signal(signal.SIGTERM)
        # uvicorn re-raises the signal it caught once it has shut down (systemd counts
        # SIGTERM as a clean exit)
        assert proc.wait(20) in (0, -signal.SIGTERM)
        text = log.read_text(errors="replace")
        assert "event loop: uvloop" in text
        assert "Application shutdown complete" in text
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
