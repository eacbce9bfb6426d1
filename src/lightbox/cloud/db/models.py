"""The cloud's tables, as typed SQLAlchemy 2 models.

Times are stored as UTC and always come back timezone-aware (also on SQLite, which keeps no
zone). Every timestamp is set by the application from its clock, never by the database, so
that tests can move time.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    TypeDecorator,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every database."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware one (UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime()}  # noqa: RUF012 (SQLAlchemy reads it)


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    """Lower-cased and stripped before it is stored or looked up."""
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
    password_changed_at: Mapped[datetime | None] = mapped_column(default=None)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    """Publishes releases and steers rollouts (``lightbox cloud admin EMAIL``)."""


class RefreshToken(Base):
    """One refresh token. A log-in starts a *family*; every refresh adds the next token
    to it and revokes the one used; showing a revoked token again revokes the family."""

    __tablename__ = "refresh_tokens"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    family_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    replaced_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)


class Device(Base):
    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    """The LightBox's own device id (also its MQTT topic segment)."""
    owner_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL"), index=True, default=None
    )
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(64))
    hardware: Mapped[str] = mapped_column(String(128))
    registered_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None] = mapped_column(default=None)
    last_seen_at: Mapped[datetime | None] = mapped_column(default=None)
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    mqtt_username: Mapped[str | None] = mapped_column(String(128), default=None)
    credentials_revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    registration_secret_hash: Mapped[str] = mapped_column(String(64))


class ClaimCode(Base):
    """A short code a LightBox shows; whoever sends it first (in time) owns the device.

    Only an HMAC of the code is stored; ``code_prefix`` (its first three characters) finds
    the candidates, so that a wrong guess can be counted against the codes it aimed at.
    """

    __tablename__ = "claim_codes"
    __table_args__ = (Index("ix_claim_codes_prefix_active", "code_prefix", "used_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    device_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("devices.id", ondelete="CASCADE"), index=True
    )
    code_prefix: Mapped[str] = mapped_column(String(3))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    used_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class AuditLog(Base):
    """Security-relevant events: log-ins, claims, revocations."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[datetime] = mapped_column(index=True)
    action: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None, index=True)
    device_id: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    ip: Mapped[str | None] = mapped_column(String(64), default=None)
    detail: Mapped[str | None] = mapped_column(String(500), default=None)


class DeviceSync(Base):
    """The cloud's copy of one device's synced document (lightbox.cloud.sync).

    ``document`` is the :func:`lightbox.sync.snapshot` of the merged document; the marks
    are encoded HLC timestamps (fixed width: they sort like timestamps). ``sent`` is kept
    here, not in one instance's memory, because any instance may take the device's next
    message (shared subscription). ``pending_down``: the cloud copy holds edits the device
    has not been sent yet (an owner's edit through the API). Rows are updated under
    ``SELECT ... FOR UPDATE``.
    """

    __tablename__ = "device_sync"

    device_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
    document: Mapped[bytes] = mapped_column(LargeBinary)
    received: Mapped[str | None] = mapped_column(String(64), default=None)
    acked: Mapped[str | None] = mapped_column(String(64), default=None)
    sent: Mapped[str | None] = mapped_column(String(64), default=None)
    pending_down: Mapped[bool] = mapped_column(Boolean, default=False)
    last_sync_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(String(500), default=None)


class Telemetry(Base):
    """One telemetry sample of a device (``fields``: numbers by name)."""

    __tablename__ = "telemetry"
    __table_args__ = (Index("ix_telemetry_device_at", "device_id", "at", unique=True),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    device_id: Mapped[str] = mapped_column(String(64), ForeignKey("devices.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    fields: Mapped[dict[str, float]] = mapped_column(JSON().with_variant(JSONB(), "postgresql"))


# -- releases and rollouts (lightbox.cloud.releases) -------------------------------------------


class Release(Base):
    """A signed release artifact in release storage, registered after its signature checked
    out against the cloud's trust store. ``size``/``sha256`` are the whole artifact's."""

    __tablename__ = "releases"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    version: Mapped[str] = mapped_column(String(64), unique=True)
    channel: Mapped[str] = mapped_column(String(32), index=True)
    hardware: Mapped[list[str]] = mapped_column(JSON().with_variant(JSONB(), "postgresql"))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(512))
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON().with_variant(JSONB(), "postgresql"))
    key_id: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    yanked: Mapped[bool] = mapped_column(Boolean, default=False)


class DeviceGroup(Base):
    """A named set of devices (a canary group), targeted by a rollout."""

    __tablename__ = "device_groups"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]


class DeviceGroupMember(Base):
    __tablename__ = "device_group_members"

    group_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("device_groups.id", ondelete="CASCADE"), primary_key=True
    )
    device_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Rollout(Base):
    """A release offered to a cohort, widened step by step; halts on its own.

    The cohort is the devices of ``group_id`` (whatever their channel), or the devices on
    ``channel``; of those, the ones whose bucket (a stable hash of rollout and device id,
    0..99) is below ``percentage``. ``step`` counts the steps taken (widen, resume after a
    halt): failures are judged among the devices that attempted the update in the current
    step.
    """

    __tablename__ = "rollouts"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    release_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("releases.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str | None] = mapped_column(String(32), default=None)
    group_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("device_groups.id", ondelete="SET NULL"), default=None, index=True
    )
    percentage: Mapped[int] = mapped_column(Integer)
    steps: Mapped[list[int]] = mapped_column(JSON().with_variant(JSONB(), "postgresql"))
    step: Mapped[int] = mapped_column(Integer, default=0)
    failure_threshold: Mapped[float] = mapped_column(Float)
    min_sample: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), index=True)
    halted_reason: Mapped[str | None] = mapped_column(String(500), default=None)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class DeviceUpdate(Base):
    """One device's progress with one release, from its update agent's reports."""

    __tablename__ = "device_updates"

    device_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
    release_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("releases.id", ondelete="CASCADE"), primary_key=True
    )
    rollout_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("rollouts.id", ondelete="SET NULL"), default=None, index=True
    )
    step: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500), default=None)
    last_report_id: Mapped[str | None] = mapped_column(String(64), default=None)
    last_report_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime]
