"""What devices do with releases: ask for an offer, report progress; what owners see.

Offer (``GET /devices/{id}/update``, the registration secret as bearer token)
    Among the rollouts that offer (active or completed) of releases not yanked, the newest
    release that is newer than the device's version, built for its hardware, allowed from
    its version (``min_from_version``), whose rollout has the device in its cohort
    (:mod:`~lightbox.cloud.releases.cohort`), and that the device has not rolled back or
    failed too often. The answer carries a presigned URL: the API never streams artifact
    bytes. The offer is recorded (state ``offered``) so that the reports count toward the
    rollout that made it.

Reports (MQTT ``lightbox/<id>/update/status`` or ``POST /devices/{id}/update/status``)
    Stored per device and release; a repeat (same report id) or an older report is
    ignored, so the agent's outbox may deliver twice and two instances may take the
    messages in any order. A failure is judged at once: when the rollout's current step
    passes its failure threshold the rollout halts (same transaction, the rollout row
    locked), and a halted rollout offers nothing.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from packaging.version import Version
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from lightbox.cloud import security
from lightbox.cloud.db import Device, DeviceGroupMember, DeviceUpdate, Release, Rollout
from lightbox.cloud.devices import Devices
from lightbox.cloud.errors import Forbidden
from lightbox.cloud.releases import cohort
from lightbox.cloud.releases.admin import OFFERING
from lightbox.cloud.releases.context import ReleaseContext
from lightbox.cloud.releases.schemas import (
    DeviceUpdateOut,
    DeviceUpdatesOut,
    StatusAck,
    manifest_field,
)
from lightbox.cloud.services import CloudServices
from lightbox.edge.update.agent import UpdateOffer
from lightbox.edge.update.outbox import UpdateStatus

log = logging.getLogger(__name__)

NEED_SECRET = "send the device's registration secret: 'Authorization: Bearer lbs_...'"


class DeviceUpdates:
    def __init__(self, services: CloudServices, context: ReleaseContext) -> None:
        self.s = services
        self.ctx = context

    # -- the device's side ------------------------------------------------------------------

    async def offer(
        self,
        device_id: str,
        secret: str | None,
        *,
        version: str | None = None,
        hardware: str | None = None,
        channel: str = "stable",
    ) -> UpdateOffer | None:
        async with self.s.sessionmaker() as session:
            device = await self._device(session, device_id, secret)
            if version is not None and version != device.version:
                device.version = version[:64]
            current = device.version
            hw = hardware or device.hardware
            candidates = (
                await session.execute(
                    select(Rollout, Release)
                    .join(Release, Release.id == Rollout.release_id)
                    .where(Rollout.state.in_(OFFERING), Release.yanked.is_(False))
                )
            ).all()
            groups = set(
                (
                    await session.scalars(
                        select(DeviceGroupMember.group_id).where(
                            DeviceGroupMember.device_id == device.id
                        )
                    )
                ).all()
            )
            progress = {
                row.release_id: row
                for row in (
                    await session.scalars(
                        select(DeviceUpdate).where(DeviceUpdate.device_id == device.id)
                    )
                ).all()
            }
            choice = _choose(candidates, device.id, current, hw, channel, groups, progress)
            if choice is None:
                await session.commit()
                return None
            rollout, release = choice
            row = progress.get(release.id)
            if row is None:
                session.add(
                    DeviceUpdate(
                        device_id=device.id,
                        release_id=release.id,
                        rollout_id=rollout.id,
                        step=rollout.step,
                        state=cohort.OFFERED,
                        attempts=0,
                        updated_at=self.s.clock(),
                    )
                )
            try:
                await session.commit()
            except IntegrityError:  # offered concurrently on another instance: same offer
                await session.rollback()
        url = await asyncio.to_thread(
            self.ctx.storage.presigned_get_url, release.storage_key, self.s.config.release_url_ttl_s
        )
        return UpdateOffer(
            version=release.version, url=url, sha256=release.sha256, size=release.size
        )

    async def report(self, device_id: str, secret: str | None, status: UpdateStatus) -> StatusAck:
        """A report POSTed by the device, authenticated by its registration secret."""
        async with self.s.sessionmaker() as session:
            await self._device(session, device_id, secret)
        return await self.record(device_id, status)

    async def record_payload(self, device_id: str, payload: bytes) -> StatusAck:
        """A report as it came over MQTT: a bad one is logged and dropped."""
        try:
            status = UpdateStatus.model_validate_json(payload)
        except ValidationError as err:
            log.warning("device %s: unreadable update report dropped: %s", device_id, err)
            return StatusAck(stored=False)
        return await self.record(device_id, status)

    async def record(self, device_id: str, status: UpdateStatus) -> StatusAck:
        """Store one report of ``device_id`` (already authenticated: topic ACL or secret)."""
        if status.state in cohort.IGNORED_STATES or status.version is None:
            return StatusAck(stored=False)
        for attempt in range(3):
            try:
                return await self._record(device_id, status)
            except IntegrityError:  # the first report of a pair, stored concurrently
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _record(self, device_id: str, status: UpdateStatus) -> StatusAck:
        now = self.s.clock()
        async with self.s.sessionmaker() as session:
            release = await session.scalar(select(Release).where(Release.version == status.version))
            device = await session.get(Device, device_id) if len(device_id) <= 64 else None
            if release is None or device is None:
                return StatusAck(stored=False)
            row = await session.scalar(
                select(DeviceUpdate)
                .where(DeviceUpdate.device_id == device_id, DeviceUpdate.release_id == release.id)
                .with_for_update()
            )
            if row is None:
                row = DeviceUpdate(
                    device_id=device_id,
                    release_id=release.id,
                    rollout_id=None,
                    step=0,
                    state=cohort.OFFERED,
                    attempts=0,
                    updated_at=now,
                )
                session.add(row)
            elif row.last_report_id == status.id or (
                row.last_report_at is not None and status.at < row.last_report_at
            ):
                await session.commit()
                return StatusAck(stored=False)
            rollout = await session.get(Rollout, row.rollout_id) if row.rollout_id else None
            if status.state == "downloading":
                row.attempts += 1
                if rollout is not None:
                    row.step = rollout.step  # a new attempt counts in the current step
            row.state = status.state
            row.last_report_id = status.id
            row.last_report_at = status.at
            row.updated_at = now
            if status.state in cohort.FAILED_STATES:
                row.last_error = f"{status.reason or status.state}: {status.message}"[:500]
            elif status.state == "committed":
                row.last_error = None
                device.version = release.version
            if status.state == "rolled_back" and status.from_version:
                device.version = status.from_version
            await session.flush()
            state = await self._judge(session, rollout) if rollout is not None else None
            await session.commit()
        return StatusAck(stored=True, rollout_state=state)

    async def _judge(self, session: AsyncSession, rollout: Rollout) -> str:
        """Halt the rollout when its current step failed past the threshold."""
        locked = await session.scalar(
            select(Rollout).where(Rollout.id == rollout.id).with_for_update()
        )
        assert locked is not None
        await session.refresh(locked)
        if locked.state not in OFFERING:
            return locked.state
        rows = (
            await session.execute(
                select(DeviceUpdate.state, func.count())
                .where(
                    DeviceUpdate.rollout_id == locked.id,
                    DeviceUpdate.step == locked.step,
                    DeviceUpdate.state != cohort.OFFERED,
                )
                .group_by(DeviceUpdate.state)
            )
        ).all()
        counts = cohort.StepCounts(
            attempted=sum(n for _, n in rows),
            failed=sum(n for s, n in rows if s in cohort.FAILED_STATES),
        )
        reason = cohort.halt_reason(
            counts,
            threshold=locked.failure_threshold,
            min_sample=locked.min_sample,
            step=locked.step,
        )
        if reason is not None:
            locked.state = "halted"
            locked.halted_reason = reason
            locked.updated_at = self.s.clock()
            log.warning("rollout %s halted: %s", locked.id, reason)
        return locked.state

    # -- the owner's side -------------------------------------------------------------------

    async def status_for_owner(self, user_id: uuid.UUID, device_id: str) -> DeviceUpdatesOut:
        async with self.s.sessionmaker() as session:
            device = await Devices.owned(session, user_id, device_id)
            rows = (
                await session.execute(
                    select(DeviceUpdate, Release.version)
                    .join(Release, Release.id == DeviceUpdate.release_id)
                    .where(DeviceUpdate.device_id == device.id)
                    .order_by(DeviceUpdate.updated_at.desc())
                )
            ).all()
        return DeviceUpdatesOut(
            device_id=device.id,
            version=device.version,
            updates=[
                DeviceUpdateOut(
                    version=version,
                    state=row.state,
                    attempts=row.attempts,
                    last_error=row.last_error,
                    updated_at=row.updated_at,
                )
                for row, version in rows
            ],
        )

    # -- helpers ----------------------------------------------------------------------------

    @staticmethod
    async def _device(session: AsyncSession, device_id: str, secret: str | None) -> Device:
        device = await session.get(Device, device_id) if len(device_id) <= 64 else None
        if (
            device is None
            or secret is None
            or not security.same_digest(secret, device.registration_secret_hash)
        ):
            raise Forbidden(NEED_SECRET, field="authorization")
        return device


def _choose(
    candidates: Any,
    device_id: str,
    current: str,
    hardware: str,
    channel: str,
    groups: set[uuid.UUID],
    progress: dict[uuid.UUID, DeviceUpdate],
) -> tuple[Rollout, Release] | None:
    """The newest release offered to this device, with the rollout that offers it."""
    best: tuple[Rollout, Release] | None = None
    for rollout, release in candidates:
        if hardware not in release.hardware or not cohort.is_newer(release.version, current):
            continue
        min_from = manifest_field(release.manifest, "min_from_version")
        if min_from is not None and not cohort.is_newer(current, min_from) and current != min_from:
            continue
        if not cohort.in_cohort(
            rollout_id=str(rollout.id),
            device_id=device_id,
            percentage=rollout.percentage,
            rollout_channel=rollout.channel,
            device_channel=channel,
            in_group=(rollout.group_id in groups) if rollout.group_id is not None else None,
        ):
            continue
        row = progress.get(release.id)
        if row is not None and not cohort.may_offer(row.state, row.attempts):
            continue
        if best is None or Version(release.version) > Version(best[1].version):
            best = (rollout, release)
    return best


__all__ = ["DeviceUpdates"]
