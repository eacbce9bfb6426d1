"""Resumable artifact download: HTTP Range into ``<sha>.part``, retries with full jitter.

A cut connection costs nothing already received: the next request asks for
``Range: bytes=<have>-``. Failures without progress back off exponentially with full
jitter (``uniform(0, min(cap, base * 2**n))``); any progress resets the count. A 4xx
answer (an expired or tampered presigned URL) is not retried: the agent asks for a new
URL on its next check, and the ``.part`` file is resumed then.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx

from lightbox.edge.update.errors import DownloadCorrupt, DownloadError, DownloadRefused


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 8
    """Consecutive failed requests (no byte received) before giving up."""
    base: float = 0.5
    cap: float = 30.0

    def delay(self, failures: int, rng: random.Random) -> float:
        return rng.uniform(0, min(self.cap, self.base * 2**failures))


DEFAULT_RETRY = RetryPolicy()


@dataclass
class DownloadStats:
    bytes_fetched: int = 0
    requests: int = 0
    resumed_from: int = 0


def _hash_prefix(path: Path) -> hashlib._Hash:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest


class _Retry(Exception):
    pass


def _size(path: Path) -> int:
    return path.stat().st_size


def _prepare(url: str, part: Path, final: Path, size: int) -> int | None:
    """The bytes already here, or None when the final file is complete already."""
    if final.exists():
        return None
    part.parent.mkdir(parents=True, exist_ok=True)
    if part.exists() and part.stat().st_size > size:
        part.unlink()
    part.touch()
    if urlsplit(url).scheme == "file":
        shutil.copyfile(unquote(urlsplit(url).path), part)
    return part.stat().st_size


def _finish(part: Path, final: Path, sha256: str) -> None:
    if _hash_prefix(part).hexdigest() != sha256:
        part.unlink(missing_ok=True)
        raise DownloadCorrupt("the download's sha256 differs from the offer; fetching again")
    os.replace(part, final)


async def download(
    url: str,
    part: Path,
    final: Path,
    *,
    sha256: str,
    size: int,
    client: httpx.AsyncClient,
    retry: RetryPolicy = DEFAULT_RETRY,
    rng: random.Random | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    progress: Callable[[int], None] | None = None,
) -> DownloadStats:
    """Fetch ``url`` into ``final`` (via ``part``), checking size and sha256."""
    rng = rng or random.Random()
    stats = DownloadStats()
    resumed = await asyncio.to_thread(_prepare, url, part, final, size)
    if resumed is None:
        return stats
    stats.resumed_from = resumed
    failures, last = 0, "no request yet"
    while (have := _size(part)) < size:
        headers = {"Range": f"bytes={have}-"} if have else {}
        stats.requests += 1
        got = 0
        try:
            async with client.stream("GET", url, headers=headers) as response:
                status = response.status_code
                if status in (400, 401, 403, 404, 410):
                    raise DownloadRefused(f"storage refused the download URL (HTTP {status})")
                if status == 416 or status == 429 or status >= 500:
                    raise _Retry(f"HTTP {status}")
                if status == 206:
                    start = response.headers.get("content-range", "").split(" ")[-1]
                    if not start.startswith(f"{have}-"):
                        raise _Retry(f"unexpected Content-Range {start!r}")
                elif status == 200:
                    have = 0  # the server ignored Range: start over
                else:
                    raise _Retry(f"HTTP {status}")
                with part.open("r+b") as fh:
                    fh.seek(have)
                    fh.truncate()
                    async for chunk in response.aiter_raw():
                        if have + got + len(chunk) > size:
                            raise DownloadCorrupt(f"storage sent more than {size} bytes")
                        fh.write(chunk)
                        got += len(chunk)
                        stats.bytes_fetched += len(chunk)
                        if progress:
                            progress(len(chunk))
                    fh.flush()
                    os.fsync(fh.fileno())
        except DownloadCorrupt:
            os.unlink(part)
            raise
        except (_Retry, httpx.HTTPError) as err:
            last = str(err) or type(err).__name__
        if _size(part) >= size:
            break
        failures = 0 if got else failures + 1
        if failures >= retry.attempts:
            raise DownloadError(
                f"download failed {failures} times in a row ({last}); will retry on next check"
            )
        if not got:
            await sleep(retry.delay(failures, rng))
    await asyncio.to_thread(_finish, part, final, sha256)
    return stats


__all__ = ["DEFAULT_RETRY", "DownloadStats", "RetryPolicy", "download"]
