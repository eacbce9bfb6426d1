"""What admins do: register releases, manage device groups, start and steer rollouts.

Registering reads the artifact from release storage and verifies it completely (layout,
signature against the cloud's trusted keys, revocation, every file's sha256) before the
release is stored: a tampered artifact or one signed by an untrusted or revoked key is
refused with 422 and the reason (``bad_signature``, ``untrusted_key``...).
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path

from packaging.version import Version
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lightbox.cloud.db import (
    Device,
    DeviceGroup,
    DeviceGroupMember,
    DeviceUpdate,
    Release,
    Rollout,
    User,
)
from lightbox.cloud.errors import AlreadyExists, InvalidRequest
from lightbox.cloud.releases import cohort
from lightbox.cloud.releases.context import ReleaseContext, notify_all
from lightbox.cloud.releases.schemas import (
    GroupIn,
    GroupOut,
    ReleaseIn,
    ReleaseOut,
    RolloutIn,
    RolloutOut,
    manifest_field,
)
from lightbox.cloud.services import CloudServices
from lightbox.protocol import Conflict, NotFound
from lightbox.release.artifact import sha256_file, verify
from lightbox.release.errors import ObjectNotFound, ReleaseError, VerificationError
from lightbox.release.manifest import Manifest

log = logging.getLogger(__name__)

OFFERING = ("active", "completed")
"""Rollout states that offer the release (completed: at 100 %, for the stragglers)."""


def release_view(release: Release) -> ReleaseOut:
    return ReleaseOut(
        id=release.id,
        version=release.version,
        channel=release.channel,
        hardware=list(release.hardware),
        size=release.size,
        sha256=release.sha256,
        storage_key=release.storage_key,
        key_id=release.key_id,
        min_from_version=manifest_field(release.manifest, "min_from_version"),
        created_at=release.created_at,
        yanked=release.yanked,
    )


async def set_admin(
    sessionmaker: async_sessionmaker[AsyncSession], email: str, admin: bool = True
) -> bool:
    """Give (or take) the admin role; False when there is no such account."""
    async with sessionmaker() as session:
        result = await session.execute(
            update(User).where(User.email == email.strip().lower()).values(is_admin=admin)
        )
        await session.commit()
    return bool(getattr(result, "rowcount", 0))


class ReleaseAdmin:
    def __init__(self, services: CloudServices, context: ReleaseContext) -> None:
        self.s = services
        self.ctx = context

    # -- releases ---------------------------------------------------------------------------

    async def register(self, body: ReleaseIn) -> ReleaseOut:
        trust = self.ctx.trust()
        storage = self.ctx.storage
        with tempfile.TemporaryDirectory(prefix="lightbox-release-") as tmp:
            artifact = Path(tmp) / "artifact.lbx"
            try:
                await asyncio.to_thread(storage.get, body.storage_key, artifact)
            except ObjectNotFound as err:
                raise InvalidRequest(
                    f"no artifact {body.storage_key!r} in release storage; upload it with "
                    "`lightbox release publish` first",
                    field="storage_key",
                ) from err
            except ReleaseError as err:
                raise InvalidRequest(
                    f"release storage: {err.message}", field="storage_key"
                ) from err
            try:
                manifest = await asyncio.to_thread(verify, artifact, trust)
            except VerificationError as err:
                raise InvalidRequest(
                    f"artifact refused ({err.reason}): {err.message}", field="storage_key"
                ) from err
            digest, size = await asyncio.to_thread(sha256_file, artifact)
        if body.sha256 is not None and body.sha256 != digest:
            raise InvalidRequest(
                f"the stored artifact's sha256 is {digest}, not the one given; publish again",
                field="sha256",
            )
        return await self._store(body.storage_key, manifest, digest, size)

    async def _store(self, key: str, manifest: Manifest, digest: str, size: int) -> ReleaseOut:
        assert manifest.key_id is not None  # verify() refuses unsigned manifests
        release = Release(
            version=manifest.version,
            channel=manifest.channel,
            hardware=list(manifest.hardware),
            size=size,
            sha256=digest,
            storage_key=key,
            manifest=manifest.model_dump(mode="json"),
            key_id=manifest.key_id,
            created_at=self.s.clock(),
            yanked=False,
        )
        async with self.s.sessionmaker() as session:
            session.add(release)
            try:
                await session.commit()
            except IntegrityError as err:
                raise AlreadyExists(
                    f"release {manifest.version} is registered already", field="storage_key"
                ) from err
        log.info("release %s (%s) registered, key %s", release.version, release.channel, key)
        return release_view(release)

    async def list_releases(self, channel: str | None = None) -> list[ReleaseOut]:
        async with self.s.sessionmaker() as session:
            query = select(Release)
            if channel is not None:
                query = query.where(Release.channel == channel)
            releases = (await session.scalars(query)).all()
        ordered = sorted(releases, key=lambda r: Version(r.version), reverse=True)
        return [release_view(r) for r in ordered]

    # -- device groups ----------------------------------------------------------------------

    async def create_group(self, body: GroupIn) -> GroupOut:
        async with self.s.sessionmaker() as session:
            group = DeviceGroup(name=body.name, created_at=self.s.clock())
            session.add(group)
            try:
                await session.flush()
            except IntegrityError as err:
                raise AlreadyExists(f"group {body.name!r} exists", field="name") from err
            members = await self._set_members(session, group, body.devices)
            await session.commit()
        return GroupOut(id=group.id, name=group.name, devices=members, created_at=group.created_at)

    async def set_members(self, name: str, devices: list[str]) -> GroupOut:
        async with self.s.sessionmaker() as session:
            group = await self._group(session, name)
            members = await self._set_members(session, group, devices)
            await session.commit()
        return GroupOut(id=group.id, name=group.name, devices=members, created_at=group.created_at)

    async def list_groups(self) -> list[GroupOut]:
        async with self.s.sessionmaker() as session:
            groups = (await session.scalars(select(DeviceGroup).order_by(DeviceGroup.name))).all()
            rows = (await session.execute(select(DeviceGroupMember))).scalars().all()
        members: dict[uuid.UUID, list[str]] = {}
        for row in rows:
            members.setdefault(row.group_id, []).append(row.device_id)
        return [
            GroupOut(
                id=g.id, name=g.name, devices=sorted(members.get(g.id, [])), created_at=g.created_at
            )
            for g in groups
        ]

    async def _group(self, session: AsyncSession, name: str) -> DeviceGroup:
        group = await session.scalar(select(DeviceGroup).where(DeviceGroup.name == name))
        if group is None:
            raise NotFound(f"no device group {name!r}; GET /api/v1/device-groups", field="group")
        return group

    async def _set_members(
        self, session: AsyncSession, group: DeviceGroup, devices: Sequence[str]
    ) -> list[str]:
        wanted = sorted(set(devices))
        if wanted:
            known = set(
                (await session.scalars(select(Device.id).where(Device.id.in_(wanted)))).all()
            )
            unknown = [d for d in wanted if d not in known]
            if unknown:
                raise InvalidRequest(f"not registered: {', '.join(unknown[:10])}", field="devices")
        current = (
            await session.scalars(
                select(DeviceGroupMember).where(DeviceGroupMember.group_id == group.id)
            )
        ).all()
        for row in current:
            if row.device_id not in wanted:
                await session.delete(row)
        have = {row.device_id for row in current}
        for device_id in wanted:
            if device_id not in have:
                session.add(DeviceGroupMember(group_id=group.id, device_id=device_id))
        return wanted

    # -- rollouts ---------------------------------------------------------------------------

    async def create_rollout(self, body: RolloutIn) -> RolloutOut:
        now = self.s.clock()
        async with self.s.sessionmaker() as session:
            release = await session.get(Release, body.release_id)
            if release is None:
                raise NotFound("no such release; GET /api/v1/releases", field="release_id")
            if release.yanked:
                raise InvalidRequest(f"release {release.version} is yanked", field="release_id")
            group = await self._group(session, body.group) if body.group is not None else None
            rollout = Rollout(
                release_id=release.id,
                channel=None if group is not None else (body.channel or release.channel),
                group_id=group.id if group is not None else None,
                percentage=body.percentage or body.steps[0],
                steps=list(body.steps),
                step=0,
                failure_threshold=body.failure_threshold,
                min_sample=body.min_sample,
                state="active",
                created_at=now,
                updated_at=now,
            )
            if rollout.percentage >= 100:
                rollout.state = "completed"
            session.add(rollout)
            await session.commit()
        log.info(
            "rollout %s of %s to %s at %d%%",
            rollout.id,
            release.version,
            f"group {body.group}" if group else f"channel {rollout.channel}",
            rollout.percentage,
        )
        await self._notify(rollout, release)
        return await self.get_rollout(rollout.id)

    async def widen(self, rollout_id: uuid.UUID, percentage: int | None) -> RolloutOut:
        async with self.s.sessionmaker() as session:
            rollout = await self._rollout(session, rollout_id, lock=True)
            if rollout.state != "active":
                raise Conflict(
                    f"the rollout is {rollout.state}; only an active rollout widens"
                    + (" (resume it first)" if rollout.state in ("paused", "halted") else ""),
                    field="state",
                )
            target = percentage or cohort.next_percentage(rollout.steps, rollout.percentage)
            if target is None or target <= rollout.percentage:
                raise InvalidRequest(
                    f"the rollout is at {rollout.percentage}%; widen to more than that",
                    field="percentage",
                )
            rollout.percentage = target
            rollout.step += 1
            rollout.state = "completed" if target >= 100 else "active"
            rollout.updated_at = self.s.clock()
            release = await session.get(Release, rollout.release_id)
            assert release is not None
            await session.commit()
        log.info("rollout %s widened to %d%% (step %d)", rollout.id, target, rollout.step)
        await self._notify(rollout, release)
        return await self.get_rollout(rollout_id)

    async def pause(self, rollout_id: uuid.UUID) -> RolloutOut:
        async with self.s.sessionmaker() as session:
            rollout = await self._rollout(session, rollout_id, lock=True)
            if rollout.state not in OFFERING:
                raise Conflict(f"the rollout is {rollout.state}, not running", field="state")
            rollout.state = "paused"
            rollout.updated_at = self.s.clock()
            await session.commit()
        return await self.get_rollout(rollout_id)

    async def resume(self, rollout_id: uuid.UUID) -> RolloutOut:
        """A paused or halted rollout offers again; after a halt, judging starts afresh
        (a new step), so the failures that halted it do not halt it again at once."""
        async with self.s.sessionmaker() as session:
            rollout = await self._rollout(session, rollout_id, lock=True)
            if rollout.state not in ("paused", "halted"):
                raise Conflict(f"the rollout is {rollout.state}, not paused", field="state")
            if rollout.state == "halted":
                rollout.step += 1
                rollout.halted_reason = None
            rollout.state = "completed" if rollout.percentage >= 100 else "active"
            rollout.updated_at = self.s.clock()
            release = await session.get(Release, rollout.release_id)
            assert release is not None
            await session.commit()
        await self._notify(rollout, release)
        return await self.get_rollout(rollout_id)

    async def get_rollout(self, rollout_id: uuid.UUID) -> RolloutOut:
        async with self.s.sessionmaker() as session:
            rollout = await self._rollout(session, rollout_id)
            rows = (
                await session.execute(
                    select(DeviceUpdate.state, func.count())
                    .where(DeviceUpdate.rollout_id == rollout.id)
                    .group_by(DeviceUpdate.state)
                )
            ).all()
            counts: dict[str, int] = dict(rows)
            return await self._view(session, rollout, counts)

    async def list_rollouts(self) -> list[RolloutOut]:
        async with self.s.sessionmaker() as session:
            rollouts = (
                await session.scalars(select(Rollout).order_by(Rollout.created_at.desc()))
            ).all()
            return [await self._view(session, r, None) for r in rollouts]

    async def _view(
        self, session: AsyncSession, rollout: Rollout, counts: dict[str, int] | None
    ) -> RolloutOut:
        release = await session.get(Release, rollout.release_id)
        assert release is not None
        group = await session.get(DeviceGroup, rollout.group_id) if rollout.group_id else None
        return RolloutOut(
            id=rollout.id,
            release_id=rollout.release_id,
            version=release.version,
            channel=rollout.channel,
            group=group.name if group else None,
            percentage=rollout.percentage,
            steps=list(rollout.steps),
            step=rollout.step,
            failure_threshold=rollout.failure_threshold,
            min_sample=rollout.min_sample,
            state=rollout.state,
            halted_reason=rollout.halted_reason,
            created_at=rollout.created_at,
            updated_at=rollout.updated_at,
            counts=counts or {},
        )

    @staticmethod
    async def _rollout(
        session: AsyncSession, rollout_id: uuid.UUID, *, lock: bool = False
    ) -> Rollout:
        query = select(Rollout).where(Rollout.id == rollout_id)
        if lock:
            query = query.with_for_update()
        rollout = await session.scalar(query)
        if rollout is None:
            raise NotFound("no such rollout; GET /api/v1/rollouts", field="rollout_id")
        return rollout

    async def _notify(self, rollout: Rollout, release: Release) -> None:
        """Tell the cohort's devices that are not on the release yet to check now."""
        if rollout.state not in OFFERING:
            return
        async with self.s.sessionmaker() as session:
            query = select(Device.id, Device.version)
            if rollout.group_id is not None:
                query = query.join(
                    DeviceGroupMember, DeviceGroupMember.device_id == Device.id
                ).where(DeviceGroupMember.group_id == rollout.group_id)
            rows = (await session.execute(query)).all()
        rid = str(rollout.id)
        targets = [
            device_id
            for device_id, version in rows
            if cohort.bucket(rid, device_id) < rollout.percentage
            and cohort.is_newer(release.version, version)
        ]
        if targets:
            sent = await notify_all(self.ctx.notifier, targets, release.version)
            log.info("rollout %s: %d of %d devices notified", rid, sent, len(targets))


__all__ = ["OFFERING", "ReleaseAdmin", "release_view", "set_admin"]
