"""The update agent: an explicit state machine from "is there a release?" to committed.

::

    IDLE -> CHECKING -> DOWNLOADING -> VERIFYING -> INSTALLING -> SWITCHING -> RESTARTING
                                                                                  |
    COMMITTED <- HEALTH_CHECK <-----------------------------------------------------+
                     |
                     +-> ROLLING_BACK -> ROLLED_BACK   (FAILED from any step before the
                                                        switch; the running slot untouched)

Transitions are data (:data:`TRANSITIONS`); every state entered is reported through the
injected ``report`` (an :class:`~lightbox.edge.update.outbox.Outbox` keeps reports durable
until the cloud is reachable). Like Home Assistant's supervisor the rollback target is
recorded first (``state.json`` keeps the committed slot), the new version is installed
beside it, the real endpoints are health-checked, and only then are old downloads deleted.

The restart usually ends this process (``systemctl restart lightbox``): the new version's
agent then calls :meth:`UpdateAgent.resume` at start, which health-checks and commits or
rolls back; the same call recovers from an agent killed at any step.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import random
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from packaging.version import Version
from pydantic import BaseModel, ConfigDict, Field

from lightbox.edge.update.download import DEFAULT_RETRY, RetryPolicy, download
from lightbox.edge.update.errors import InsufficientSpace, InvalidTransition, UpdateError
from lightbox.edge.update.health import HealthCheck
from lightbox.edge.update.outbox import UpdateStatus
from lightbox.edge.update.slots import SlotLayout
from lightbox.release.artifact import verify
from lightbox.release.errors import ReleaseError, VerificationError
from lightbox.release.keys import TrustStore
from lightbox.release.manifest import Manifest

log = logging.getLogger(__name__)

SPACE_FACTOR = 2.5


class UpdateState(enum.StrEnum):
    IDLE = "idle"
    CHECKING = "checking"
    DOWNLOADING = "downloading"
    VERIFYING = "verifying"
    INSTALLING = "installing"
    SWITCHING = "switching"
    RESTARTING = "restarting"
    HEALTH_CHECK = "health_check"
    COMMITTED = "committed"
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"


S = UpdateState
TRANSITIONS: dict[UpdateState, frozenset[UpdateState]] = {
    # from IDLE: a check, or (resume at start) a pending trial / an unreported fallback
    S.IDLE: frozenset({S.CHECKING, S.RESTARTING, S.HEALTH_CHECK, S.ROLLED_BACK}),
    S.CHECKING: frozenset({S.IDLE, S.DOWNLOADING, S.FAILED}),
    S.DOWNLOADING: frozenset({S.VERIFYING, S.FAILED}),
    S.VERIFYING: frozenset({S.INSTALLING, S.FAILED}),
    S.INSTALLING: frozenset({S.SWITCHING, S.FAILED}),
    S.SWITCHING: frozenset({S.RESTARTING, S.FAILED}),
    S.RESTARTING: frozenset({S.HEALTH_CHECK, S.ROLLING_BACK}),
    S.HEALTH_CHECK: frozenset({S.COMMITTED, S.ROLLING_BACK}),
    S.ROLLING_BACK: frozenset({S.ROLLED_BACK, S.FAILED}),
    S.COMMITTED: frozenset({S.IDLE}),
    S.ROLLED_BACK: frozenset({S.IDLE}),
    S.FAILED: frozenset({S.IDLE}),
}
TERMINAL = frozenset({S.COMMITTED, S.ROLLED_BACK, S.FAILED})


class UpdateOffer(BaseModel):
    """A release the cloud offers this device: where to fetch it and what it must be."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    version: str
    url: str = Field(description="Presigned GET URL of the artifact.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(gt=0)


Check = Callable[[], Awaitable[UpdateOffer | None]]
Restart = Callable[[], Awaitable[None]]
Report = Callable[[UpdateStatus], None]


def _disk_free(path: Path) -> int:
    return shutil.disk_usage(path).free


class UpdateAgent:
    def __init__(
        self,
        layout: SlotLayout,
        *,
        trust: TrustStore,
        hardware: str,
        check: Check,
        restart: Restart,
        health: HealthCheck,
        report: Report,
        client: httpx.AsyncClient | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        disk_free: Callable[[Path], int] = _disk_free,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.layout = layout
        self.trust = trust
        self.hardware = hardware
        self._check = check
        self._restart = restart
        self._health = health
        self._report = report
        self._client = client
        self.retry = retry
        self._disk_free = disk_free
        self._rng = rng or random.Random()
        self._sleep = sleep
        self.state = UpdateState.IDLE
        self._version: str | None = None
        self._slot: str | None = None

    # ------------------------------------------------------------------ machinery

    def _enter(self, new: UpdateState, *, reason: str | None = None, message: str = "") -> None:
        if new not in TRANSITIONS[self.state]:
            raise InvalidTransition(f"{self.state} -> {new} is not a transition of the updater")
        self.state = new
        status = UpdateStatus(
            state=new.value,
            version=self._version,
            from_version=self.layout.state().active_version,
            slot=self._slot,
            reason=reason,
            message=message,
        )
        log.info("update %s %s %s", new.value, self._version or "", message)
        self._report(status)
        if new is S.IDLE:
            self._version = self._slot = None

    def _fail(self, err: UpdateError | ReleaseError) -> UpdateState:
        self._enter(S.FAILED, reason=err.reason, message=err.message)
        self._enter(S.IDLE)
        return S.FAILED

    # ------------------------------------------------------------------ the update

    async def run_once(self) -> UpdateState:
        """One check and, if a newer release is offered, the whole update. Returns the end
        state: IDLE (nothing to do), COMMITTED, ROLLED_BACK or FAILED."""
        self._enter(S.CHECKING)
        try:
            offer = await self._check()
        except Exception as err:  # the check is injected: any failure is reported, not raised
            self._enter(S.FAILED, reason="check", message=f"{type(err).__name__}: {err}")
            self._enter(S.IDLE)
            return S.FAILED
        current = self.layout.state().active_version
        if offer is None or (current is not None and Version(offer.version) <= Version(current)):
            self._enter(S.IDLE)
            return S.IDLE
        self._version = offer.version
        staging = self.layout.downloads / f"{offer.sha256}.staging"
        artifact = self.layout.downloads / f"{offer.sha256}.lbx"
        try:
            self._enter(S.DOWNLOADING)
            await self._download(offer, artifact)
            self._enter(S.VERIFYING)
            manifest = await self._verify(artifact, staging, current, offer)
            self._slot = self.layout.inactive_slot()
            self._enter(S.INSTALLING, message=f"into slot {self._slot}")
            await asyncio.to_thread(self.layout.install, self._slot, staging, manifest)
            self._enter(S.SWITCHING)
            await asyncio.to_thread(self.layout.begin_trial, self._slot, manifest.version)
        except (UpdateError, ReleaseError) as err:
            return self._fail(err)
        finally:
            await asyncio.to_thread(shutil.rmtree, staging, True)
        return await self._restart_and_check()

    async def _download(self, offer: UpdateOffer, artifact: Path) -> None:
        part = artifact.with_suffix(".part")
        await asyncio.to_thread(self.layout.ensure)
        have = await asyncio.to_thread(lambda: part.stat().st_size if part.exists() else 0)
        needed = int(offer.size * SPACE_FACTOR) - have
        free = await asyncio.to_thread(self._disk_free, self.layout.downloads)
        if free < needed:
            raise InsufficientSpace(
                f"{free} bytes free, {needed} needed for {offer.version}; free some space"
            )
        client = self._client or httpx.AsyncClient(timeout=httpx.Timeout(30, connect=10))
        try:
            await download(
                offer.url,
                part,
                artifact,
                sha256=offer.sha256,
                size=offer.size,
                client=client,
                retry=self.retry,
                rng=self._rng,
                sleep=self._sleep,
            )
        finally:
            if self._client is None:
                await client.aclose()

    async def _verify(
        self, artifact: Path, staging: Path, current: str | None, offer: UpdateOffer
    ) -> Manifest:
        await asyncio.to_thread(shutil.rmtree, staging, True)
        try:
            manifest = await asyncio.to_thread(
                verify,
                artifact,
                self.trust,
                current_version=current,
                hardware=self.hardware,
                extract_to=staging,
            )
            if manifest.version != offer.version:
                raise VerificationError(
                    f"the artifact holds {manifest.version}, the offer said {offer.version}"
                )
        except VerificationError:
            await asyncio.to_thread(artifact.unlink, True)  # refused bytes are not kept
            raise
        return manifest

    async def _restart_and_check(self) -> UpdateState:
        self._enter(S.RESTARTING)
        try:
            await self._restart()
        except Exception as err:  # injected: a failed restart rolls back
            return await self._roll_back("restart", f"{type(err).__name__}: {err}")
        return await self._health_check()

    async def _health_check(self) -> UpdateState:
        state = self.layout.state()
        self._version = self._version or state.pending_version
        self._slot = self._slot or state.pending
        self._enter(S.HEALTH_CHECK)
        version = state.pending_version
        if version is None:  # the launcher gave the trial up already
            failure = state.last_failure or {}
            return await self._roll_back("boot_failed", str(failure.get("reason", "")))
        result = await self._health(version)
        if not result.ok:
            return await self._roll_back("health_check", result.detail)
        await asyncio.to_thread(self.layout.commit)
        await asyncio.to_thread(self._delete_downloads)
        self._enter(S.COMMITTED, message=result.detail)
        self._enter(S.IDLE)
        return S.COMMITTED

    async def _roll_back(self, reason: str, detail: str) -> UpdateState:
        self._enter(S.ROLLING_BACK, reason=reason, message=detail)
        try:
            state = await asyncio.to_thread(self.layout.abort_trial, f"{reason}: {detail}")
            await self._restart()
            if state.active_version is not None:
                result = await self._health(state.active_version)
                if not result.ok:
                    self._enter(S.FAILED, reason="rollback_unhealthy", message=result.detail)
                    self._enter(S.IDLE)
                    return S.FAILED
            await asyncio.to_thread(self.layout.mark_failure_reported)
        except Exception as err:  # the restart is injected; state.json is already back
            self._enter(S.FAILED, reason="rollback", message=f"{type(err).__name__}: {err}")
            self._enter(S.IDLE)
            return S.FAILED
        self._enter(S.ROLLED_BACK, reason=reason, message=detail)
        self._enter(S.IDLE)
        return S.ROLLED_BACK

    def _delete_downloads(self) -> None:
        """After a commit only: the artifacts and partial downloads are not needed now."""
        for path in self.layout.downloads.iterdir():
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)

    # ------------------------------------------------------------------ recovery

    async def resume(self) -> UpdateState:
        """At start: finish what a restart (or a kill) interrupted. Returns the end state."""
        await asyncio.to_thread(self.layout.ensure)
        await asyncio.to_thread(self.layout.cleanup_incomplete)
        state = self.layout.state()
        if state.pending is not None:
            self._version, self._slot = state.pending_version, state.pending
            if self.layout.running_slot() == state.pending:
                return await self._health_check()
            # switched but not restarted yet: restart into the trial now
            return await self._restart_and_check()
        if state.last_failure is not None and not state.failure_reported:
            failure: dict[str, Any] = state.last_failure
            self._version, self._slot = failure.get("version"), failure.get("slot")
            await asyncio.to_thread(self.layout.mark_failure_reported)
            self._enter(S.ROLLED_BACK, reason="boot_failed", message=str(failure.get("reason")))
            self._enter(S.IDLE)
            return S.ROLLED_BACK
        return S.IDLE

    async def run(self, interval: float = 3600.0, wake: asyncio.Event | None = None) -> None:
        """The long-running task: resume, then check on a timer or when woken (MQTT)."""
        await self.resume()
        wake = wake or asyncio.Event()
        while True:
            await self.run_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=interval)
            wake.clear()


__all__ = ["TRANSITIONS", "UpdateAgent", "UpdateOffer", "UpdateState"]
