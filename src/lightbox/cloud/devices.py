"""The device registry: registration, claim codes, claiming, ownership and presence.

Registration (a LightBox calling ``POST /devices/register``)
    First time: the device is created with a new *registration secret* (returned once;
    only its digest is kept), gets broker credentials from the :class:`BrokerAdmin`, and,
    while no one owns it, a claim code. Again, with the right secret: name is kept (the
    owner may have renamed it), version and hardware are updated, and the broker
    credentials are always rotated: same username, new password, enabled again if they
    were revoked. A device only re-registers when it lost its credentials or they were
    revoked, so a new password each time costs nothing and a leaked one dies. A wrong or
    missing secret for a known id is refused (403).

Claiming
    A code is six Crockford base32 characters (``K7P-2QX``), single-use, valid for
    ``claim_code_ttl_s``; a device has at most one live code (a new one replaces the
    old). Whoever sends a live code owns the device, also when it was owned before (the
    code is only shown on the device itself: holding it is the proof). Guessing is bounded
    three ways: per user and per code prefix (sliding windows), and per code: a code that
    collected ``MAX_CODE_MISSES`` wrong guesses aimed at its prefix is burned.

Ownership
    :meth:`owned` is the one check every user-facing device operation goes through: a
    device that does not exist and one owned by someone else are the same 404.

Presence
    :meth:`record_presence` is what the broker side calls on ``online`` and on a last will;
    it updates Redis (what lists read first) and the database (what survives Redis).
"""

from __future__ import annotations

import hmac
import logging
import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from lightbox.cloud import security
from lightbox.cloud.accounts import audit
from lightbox.cloud.cache import Presence
from lightbox.cloud.db import ClaimCode, Device
from lightbox.cloud.errors import DeviceNotFound, Forbidden
from lightbox.cloud.ratelimit import enforce
from lightbox.cloud.schemas import (
    ClaimCodeOut,
    DeviceOut,
    MqttCredentials,
    RegisterRequest,
    Registration,
)
from lightbox.cloud.services import CloudServices
from lightbox.protocol import Command, CommandResult, NotFound

log = logging.getLogger(__name__)

MAX_CODE_MISSES = 5

WRONG_SECRET = (
    "this device id is registered with another registration secret; send the secret the "
    "first registration returned"
)


class Devices:
    def __init__(self, services: CloudServices) -> None:
        self.s = services

    # -- the device's side ------------------------------------------------------------------

    async def register(self, body: RegisterRequest, *, ip: str) -> tuple[Registration, bool]:
        """``(registration, created)``."""
        await enforce(self.s.limiter, self.s.limits.register_ip, ip)
        now = self.s.clock()
        async with self.s.sessionmaker() as session:
            device = await session.scalar(
                select(Device).where(Device.id == body.device_id).with_for_update()
            )
            secret: str | None = None
            if device is None:
                secret, secret_hash = security.new_device_secret()
                device = Device(
                    id=body.device_id,
                    name=body.name,
                    version=body.version,
                    hardware=body.hardware,
                    registered_at=now,
                    online=False,
                    registration_secret_hash=secret_hash,
                )
                session.add(device)
                try:
                    await session.flush()
                except IntegrityError as err:  # registered concurrently by someone else
                    raise Forbidden(WRONG_SECRET, field="registration_secret") from err
            else:
                given = body.registration_secret
                if given is None or not security.same_digest(
                    given, device.registration_secret_hash
                ):
                    audit(session, now, "register.refused", device_id=device.id, ip=ip)
                    await session.commit()
                    raise Forbidden(WRONG_SECRET, field="registration_secret")
                device.version = body.version
                device.hardware = body.hardware
            username, password = await self.s.broker_admin.create_device(device.id)
            device.mqtt_username = username
            device.credentials_revoked_at = None
            code: ClaimCodeOut | None = None
            if device.owner_id is None:
                code = await self._new_code(session, device.id, now)
            audit(
                session,
                now,
                "register" if secret else "register.again",
                device_id=device.id,
                ip=ip,
            )
            await session.commit()
        registration = Registration(
            device_id=device.id,
            registration_secret=secret,
            mqtt=MqttCredentials(
                url=self.s.config.devices_mqtt_url, username=username, password=password
            ),
            claim_code=code.claim_code if code else None,
            claim_expires_at=code.claim_expires_at if code else None,
        )
        return registration, secret is not None

    async def new_claim_code(self, device_id: str, secret: str | None) -> ClaimCodeOut:
        """A fresh claim code for a device that proves itself with its secret."""
        now = self.s.clock()
        async with self.s.sessionmaker() as session:
            device = await session.get(Device, device_id) if len(device_id) <= 64 else None
            if (
                device is None
                or secret is None
                or not security.same_digest(secret, device.registration_secret_hash)
            ):
                raise Forbidden(
                    "send the device's registration secret: 'Authorization: Bearer lbs_...'",
                    field="authorization",
                )
            code = await self._new_code(session, device.id, now)
            await session.commit()
        return code

    async def _new_code(self, session: AsyncSession, device_id: str, now: datetime) -> ClaimCodeOut:
        await session.execute(
            update(ClaimCode)
            .where(
                ClaimCode.device_id == device_id,
                ClaimCode.used_at.is_(None),
                ClaimCode.expires_at > now,
            )
            .values(expires_at=now)
        )
        code = security.new_claim_code()
        expires_at = security.expires(now, self.s.config.claim_code_ttl_s)
        session.add(
            ClaimCode(
                device_id=device_id,
                code_prefix=code[: security.CLAIM_PREFIX_CHARS],
                code_hash=security.claim_code_hash(self.s.secret, code),
                created_at=now,
                expires_at=expires_at,
                attempts=0,
            )
        )
        return ClaimCodeOut(
            claim_code=security.format_claim_code(code), claim_expires_at=expires_at
        )

    async def record_presence(self, device_id: str, online: bool, at: datetime) -> bool:
        """Record that ``device_id`` connected (or its last will fired) at ``at``.

        Reports older than the newest one seen are ignored; returns whether this one
        counted. Safe to call from every instance for the same event.
        """
        if not await self.s.cache.set_presence(device_id, online, at):
            return False
        async with self.s.sessionmaker() as session:
            await session.execute(
                update(Device)
                .where(
                    Device.id == device_id,
                    (Device.last_seen_at.is_(None)) | (Device.last_seen_at <= at),
                )
                .values(online=online, last_seen_at=at)
            )
            await session.commit()
        return True

    # -- the user's side --------------------------------------------------------------------

    async def claim(self, user_id: uuid.UUID, text: str, *, ip: str) -> DeviceOut:
        await enforce(self.s.limiter, self.s.limits.claim_user, str(user_id))
        code = security.normalize_claim_code(text)
        unknown = NotFound(
            "no LightBox shows this claim code (or it expired or was used); check the code "
            "on the matrix, or ask the LightBox for a new one",
            field="code",
        )
        if code is None:
            raise unknown
        prefix = code[: security.CLAIM_PREFIX_CHARS]
        await enforce(self.s.limiter, self.s.limits.claim_prefix, prefix)
        wanted = security.claim_code_hash(self.s.secret, code)
        now = self.s.clock()
        async with self.s.sessionmaker() as session:
            candidates = (
                await session.scalars(
                    select(ClaimCode)
                    .where(
                        ClaimCode.code_prefix == prefix,
                        ClaimCode.used_at.is_(None),
                        ClaimCode.expires_at > now,
                    )
                    .with_for_update()
                )
            ).all()
            match = next((c for c in candidates if hmac.compare_digest(c.code_hash, wanted)), None)
            if match is None:
                for candidate in candidates:
                    candidate.attempts += 1
                    if candidate.attempts >= MAX_CODE_MISSES:
                        candidate.expires_at = now
                audit(session, now, "claim.failed", user_id=user_id, ip=ip)
                await session.commit()
                raise unknown
            device = await session.get(Device, match.device_id, with_for_update=True)
            assert device is not None  # the foreign key cascades
            match.used_at = now
            match.used_by = user_id
            previous = device.owner_id
            device.owner_id = user_id
            device.claimed_at = now
            audit(
                session,
                now,
                "claim",
                user_id=user_id,
                device_id=device.id,
                ip=ip,
                detail=f"from {previous}" if previous and previous != user_id else None,
            )
            await session.commit()
        return (await self._views([device]))[0]

    async def list_owned(self, user_id: uuid.UUID) -> list[DeviceOut]:
        async with self.s.sessionmaker() as session:
            devices = (
                await session.scalars(
                    select(Device).where(Device.owner_id == user_id).order_by(Device.id)
                )
            ).all()
        return await self._views(devices)

    async def get(self, user_id: uuid.UUID, device_id: str) -> DeviceOut:
        async with self.s.sessionmaker() as session:
            device = await self.owned(session, user_id, device_id)
        return (await self._views([device]))[0]

    async def rename(self, user_id: uuid.UUID, device_id: str, name: str) -> DeviceOut:
        async with self.s.sessionmaker() as session:
            device = await self.owned(session, user_id, device_id, lock=True)
            device.name = name
            await session.commit()
        return (await self._views([device]))[0]

    async def unclaim(self, user_id: uuid.UUID, device_id: str) -> None:
        """The device stays registered (its credentials too) but has no owner."""
        now = self.s.clock()
        async with self.s.sessionmaker() as session:
            device = await self.owned(session, user_id, device_id, lock=True)
            device.owner_id = None
            device.claimed_at = None
            audit(session, now, "unclaim", user_id=user_id, device_id=device_id)
            await session.commit()

    async def revoke_credentials(self, user_id: uuid.UUID, device_id: str) -> DeviceOut:
        """The device's broker password stops working now; the LightBox gets a new one
        by registering again with its registration secret."""
        now = self.s.clock()
        async with self.s.sessionmaker() as session:
            device = await self.owned(session, user_id, device_id, lock=True)
            await self.s.broker_admin.revoke_device(device.id)
            device.credentials_revoked_at = now
            audit(session, now, "credentials.revoked", user_id=user_id, device_id=device_id)
            await session.commit()
        return (await self._views([device]))[0]

    async def send(self, user_id: uuid.UUID, device_id: str, command: Command) -> CommandResult:
        async with self.s.sessionmaker() as session:
            device = await self.owned(session, user_id, device_id)
        return await self.s.relay.send(device.id, command, self.s.command_timeout_s)

    # -- helpers ----------------------------------------------------------------------------

    @staticmethod
    async def owned(
        session: AsyncSession, user_id: uuid.UUID, device_id: str, *, lock: bool = False
    ) -> Device:
        """The device if ``user_id`` owns it; else 404, whether it exists or not."""
        query = select(Device).where(Device.id == device_id, Device.owner_id == user_id)
        if lock:
            query = query.with_for_update()
        device = await session.scalar(query) if len(device_id) <= 64 else None
        if device is None:
            raise DeviceNotFound(device_id)
        return device

    async def _views(self, devices: Sequence[Device]) -> list[DeviceOut]:
        presence = await self.s.cache.get_presence(d.id for d in devices)
        return [_view(d, presence.get(d.id)) for d in devices]


def _view(device: Device, presence: Presence | None) -> DeviceOut:
    online, seen = device.online, device.last_seen_at
    if presence is not None and (seen is None or presence.at >= seen):
        online, seen = presence.online, presence.at
    return DeviceOut(
        device_id=device.id,
        name=device.name,
        version=device.version,
        hardware=device.hardware,
        online=online,
        last_seen_at=seen,
        registered_at=device.registered_at,
        claimed_at=device.claimed_at,
        credentials_revoked=device.credentials_revoked_at is not None,
    )
