"""A Mosquitto of our own with the dynamic security plugin: for tests and ``make demo``.

:class:`LocalMosquitto` writes the configuration into a directory
(:func:`~lightbox.cloud.broker.config.write_broker_files`), with fresh random passwords
for the admin and cloud service clients, starts ``mosquitto`` on a free loopback port and
waits until it listens. Production brokers are set up as ``docs/deploy-cloud.md`` says.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from lightbox.children import die_with_parent
from lightbox.cloud.broker.config import DEFAULT_PLUGIN_PATH, write_broker_files
from lightbox.protocol.topics import PREFIX

__all__ = ["LocalMosquitto", "MosquittoMissing", "free_port", "mosquitto_missing"]


class MosquittoMissing(RuntimeError):
    """The ``mosquitto`` binary or its dynamic security plugin is not installed."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _binary() -> str | None:
    return shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )


def mosquitto_missing(plugin_path: Path = DEFAULT_PLUGIN_PATH) -> str | None:
    """Why a LocalMosquitto cannot run here, or None when it can."""
    if _binary() is None:
        return "the mosquitto binary is not installed (apt-get install mosquitto)"
    if not plugin_path.exists():
        return f"the Mosquitto dynamic security plugin is not at {plugin_path}"
    return None


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class LocalMosquitto:
    """``mosquitto`` on a free port, with authentication and per-device ACLs."""

    def __init__(
        self,
        directory: Path,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        prefix: str = PREFIX,
        plugin_path: Path = DEFAULT_PLUGIN_PATH,
        admin_username: str = "admin",
        cloud_username: str = "lightbox-cloud",
    ) -> None:
        self.directory = directory
        self.host = host
        self.port = port or free_port(host)
        self.prefix = prefix
        self.plugin_path = plugin_path
        self.admin_username = admin_username
        self.admin_password = secrets.token_urlsafe(24)
        self.cloud_username = cloud_username
        self.cloud_password = secrets.token_urlsafe(24)
        self.files = write_broker_files(
            directory,
            port=self.port,
            host=host,
            prefix=prefix,
            plugin_path=plugin_path,
            admin_username=admin_username,
            admin_password=self.admin_password,
            cloud_username=cloud_username,
            cloud_password=self.cloud_password,
        )
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``mqtt://host:port`` without credentials."""
        return f"mqtt://{self.host}:{self.port}"

    @property
    def admin_url(self) -> str:
        return f"mqtt://{self.admin_username}:{self.admin_password}@{self.host}:{self.port}"

    @property
    def cloud_url(self) -> str:
        return f"mqtt://{self.cloud_username}:{self.cloud_password}@{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        """Start mosquitto and wait until it accepts connections (blocking)."""
        missing = mosquitto_missing(self.plugin_path)
        if missing:
            raise MosquittoMissing(missing)
        if self._proc is not None:
            raise RuntimeError("this mosquitto is already running")
        binary = _binary()
        assert binary is not None
        self._proc = subprocess.Popen(
            [binary, "-c", str(self.files.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=die_with_parent,  # no orphaned broker when its owner is killed
        )
        deadline = time.monotonic() + timeout
        while not _listening(self.host, self.port):
            if self._proc.poll() is not None:
                error = self._proc.stderr.read().decode() if self._proc.stderr else ""
                self._proc = None
                raise RuntimeError(f"mosquitto exited at start: {error}{self.log()[-2000:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"mosquitto did not listen within {timeout} s")
            time.sleep(0.02)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop it (blocking); SIGTERM saves its state, SIGKILL does not."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()

    def log(self) -> str:
        path = self.files.log
        return path.read_text(errors="replace") if path.exists() else ""

    def __enter__(self) -> LocalMosquitto:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
