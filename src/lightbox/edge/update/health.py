"""Health checks of a freshly started version: injected into the agent as a callable.

The default checks the real local API: ``GET /api/v1/info`` answers with the expected
version, MQTT connected and frames rendering, several times in a row (a version that
crashes a second after start fails).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class HealthResult:
    ok: bool
    detail: str


HealthCheck = Callable[[str], Awaitable[HealthResult]]
"""Called with the version that should be running; returns whether it is healthy."""


class HttpHealthCheck:
    """Polls the local API until the expected version is healthy or the deadline passes."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8080",
        *,
        timeout: float = 120.0,
        interval: float = 1.0,
        passes: int = 3,
        require_mqtt: bool = True,
        require_frames: bool = True,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.interval = interval
        self.passes = passes
        self.require_mqtt = require_mqtt
        self.require_frames = require_frames
        self.transport = transport

    def judge(self, info: object, expected_version: str) -> str | None:
        """None when healthy, else what is wrong."""
        if not isinstance(info, dict):
            return "/api/v1/info did not answer a JSON object"
        if info.get("version") != expected_version:
            return f"version {info.get('version')!r} answers, expected {expected_version!r}"
        if self.require_mqtt and not info.get("mqtt_connected"):
            return "the MQTT broker is not connected"
        fps = info.get("fps")
        if self.require_frames and not (isinstance(fps, int | float) and fps > 0):
            return "no frames are rendering"
        return None

    async def __call__(self, expected_version: str) -> HealthResult:
        deadline = time.monotonic() + self.timeout
        detail, streak = "no answer yet", 0
        async with httpx.AsyncClient(
            base_url=self.base_url, timeout=min(5.0, self.timeout), transport=self.transport
        ) as client:
            while True:
                try:
                    response = await client.get("/api/v1/info")
                    problem = (
                        self.judge(response.json(), expected_version)
                        if response.status_code == 200
                        else f"/api/v1/info answered HTTP {response.status_code}"
                    )
                except (httpx.HTTPError, ValueError) as err:
                    problem = f"the local API does not answer ({type(err).__name__})"
                if problem is None:
                    streak += 1
                    if streak >= self.passes:
                        return HealthResult(True, f"{expected_version} healthy")
                else:
                    streak, detail = 0, problem
                if time.monotonic() >= deadline:
                    return HealthResult(False, detail)
                await asyncio.sleep(self.interval)


__all__ = ["HealthCheck", "HealthResult", "HttpHealthCheck"]
