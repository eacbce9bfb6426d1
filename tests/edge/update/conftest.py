"""Fixtures of the OTA tests: an install root with a committed v1, a supervised fake
service, releases published to a real S3-compatible server, and the fault counter.

The run ends with one line: ``ota faults: <injected> injected, <survived> survived``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lightbox.edge.update.agent import UpdateAgent, UpdateOffer
from lightbox.edge.update.download import RetryPolicy
from lightbox.edge.update.health import HttpHealthCheck
from lightbox.edge.update.outbox import Outbox
from lightbox.edge.update.slots import SlotLayout
from lightbox.release.artifact import build, read_manifest, sha256_file
from lightbox.release.keys import TrustStore, generate_key
from tests.release.s3servers import S3Server, free_port, moto_server
from tests.release.wheelfactory import make_release_wheels

HERE = Path(__file__).parent
LAUNCHER = Path(__file__).resolve().parents[3] / "src/lightbox/edge/update/launcher.py"
PIP = [sys.executable, "-m", "pip"]
HARDWARE = "linux-x86_64"


# ---------------------------------------------------------------- the fault counter


@dataclass
class FaultCounter:
    injected: int = 0
    survived: int = 0


_COUNTER = FaultCounter()
_PENDING = pytest.StashKey[int]()


@dataclass
class Faults:
    item: pytest.Item

    def inject(self, count: int = 1) -> None:
        _COUNTER.injected += count
        self.item.stash[_PENDING] = self.item.stash.get(_PENDING, 0) + count


@pytest.fixture
def faults(request: pytest.FixtureRequest) -> Faults:
    return Faults(request.node)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call" and report.passed:
        _COUNTER.survived += item.stash.get(_PENDING, 0)
    return report


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _COUNTER.injected:
        terminalreporter.write_line(
            f"ota faults: {_COUNTER.injected} injected, {_COUNTER.survived} survived"
        )


# ---------------------------------------------------------------- servers


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with moto_server(tmp_path_factory.mktemp("moto")) as server:
        yield server


# ---------------------------------------------------------------- the device


class Service:
    """The fake LightBox under a systemd stand-in: supervisor -> launcher -> slot."""

    def __init__(self, root: Path, port: int, log: Path) -> None:
        self.root, self.port, self.log = root, port, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cmd = [
            sys.executable,
            str(HERE / "supervisor.py"),
            sys.executable,
            str(LAUNCHER),
            "--root",
            str(self.root),
            "--",
            "--http-port",
            str(self.port),
        ]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)

    async def restart(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGHUP)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def info(self) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = httpx.get(
                f"http://127.0.0.1:{self.port}/api/v1/info", timeout=1
            ).json()
        except httpx.HTTPError:
            return None
        return data

    def wait_version(self, version: str, timeout: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        info = None
        while time.monotonic() < deadline:
            info = self.info()
            if info and info.get("version") == version:
                return info
            time.sleep(0.05)
        raise AssertionError(
            f"{version} did not answer in {timeout}s (last: {info}); "
            f"log: {self.log.read_text()[-1500:]}"
        )


@dataclass
class Device:
    root: Path
    layout: SlotLayout
    key: Ed25519PrivateKey
    trust: TrustStore
    service: Service
    outbox: Outbox
    releases: Path
    health_timeout: float = 6.0
    extra: dict[str, Any] = field(default_factory=dict)

    def health(self) -> HttpHealthCheck:
        return HttpHealthCheck(
            f"http://127.0.0.1:{self.service.port}",
            timeout=self.health_timeout,
            interval=0.1,
            passes=3,
        )

    def agent(self, check: Any, **options: Any) -> UpdateAgent:
        kwargs: dict[str, Any] = {
            "trust": self.trust,
            "hardware": HARDWARE,
            "check": check,
            "restart": self.service.restart,
            "health": self.health(),
            "report": self.outbox.report,
            "retry": RetryPolicy(attempts=6, base=0.01, cap=0.1),
        }
        kwargs.update(options)
        return UpdateAgent(self.layout, **kwargs)

    def artifact(
        self,
        version: str,
        *,
        mode: str = "ok",
        padding: int = 0,
        key: Ed25519PrivateKey | None = None,
        signed: bool = True,
        **options: Any,
    ) -> Path:
        wheels = make_release_wheels(
            self.releases / f"w-{version}-{mode}", version, mode=mode, padding=padding
        )
        out = self.releases / f"lightbox-{version}-{mode}.lbx"
        kwargs: dict[str, Any] = {"channel": "stable", "hardware": [HARDWARE, "rpi-arm64"]}
        kwargs.update(options)
        build(wheels, out, signing_key=(key or self.key) if signed else None, **kwargs)
        return out

    def states(self) -> list[str]:
        return [r["state"] for r in self.outbox.pending()]

    def slot_snapshot(self) -> dict[str, tuple[int, int]]:
        """Every file under slots/ with its size and mtime: to prove nothing was written."""
        base = self.root / "slots"
        return {
            str(p.relative_to(base)): (p.lstat().st_size, p.lstat().st_mtime_ns)
            for p in sorted(base.rglob("*"))
        }


@pytest.fixture
def device(tmp_path: Path) -> Iterator[Device]:
    root = tmp_path / "lightbox"
    layout = SlotLayout(root, pip=PIP)
    key = generate_key()
    releases = tmp_path / "releases"
    v1_wheels = make_release_wheels(releases / "w-1.0.0", "1.0.0")
    v1 = releases / "v1.lbx"
    build(v1_wheels, v1, channel="stable", hardware=[HARDWARE], signing_key=key)
    layout.bootstrap("a", v1_wheels[0].parent, read_manifest(v1))
    service = Service(root, free_port(), tmp_path / "service.log")
    service.start()
    dev = Device(
        root=root,
        layout=layout,
        key=key,
        trust=TrustStore([key.public_key()]),
        service=service,
        outbox=Outbox(root / "outbox.jsonl"),
        releases=releases,
    )
    try:
        service.wait_version("1.0.0")
        yield dev
    finally:
        service.stop()


@dataclass
class Published:
    offer: UpdateOffer
    key: str
    bucket: str


def publish(
    server: S3Server, artifact: Path, *, endpoint: str | None = None, version: str | None = None
) -> Published:
    """Upload to the S3 server; the offer's URL is presigned for ``endpoint`` (a proxy)."""
    from lightbox.release.storage import S3Storage

    bucket = server.new_bucket()
    key = f"releases/{artifact.name}"
    server.storage(bucket).put(key, artifact)
    signer = S3Storage(
        bucket,
        endpoint_url=endpoint or server.endpoint,
        access_key=server.access_key,
        secret_key=server.secret_key,
    )
    digest, size = sha256_file(artifact)
    offer = UpdateOffer(
        version=version or read_manifest(artifact).version,
        url=signer.presigned_get_url(key, expires=600),
        sha256=digest,
        size=size,
    )
    return Published(offer, key, bucket)


def offering(offer: UpdateOffer | None) -> Any:
    async def check() -> UpdateOffer | None:
        return offer

    return check


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(10, connect=2)) as client:
        yield client
