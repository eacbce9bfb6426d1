"""The cloud's tables, as typed SQLAlchemy 2 models.

Times are stored as UTC and always come back timezone-aware (also on SQLite, which keeps no
zone). Every timestamp is set by the application from its clock, never by the database, so
that tests can move time.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
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
