"""The cloud's database: models, the async engine and sessions, and Alembic migrations."""

from lightbox.cloud.db.engine import create_engine, create_sessionmaker
from lightbox.cloud.db.models import (
    AuditLog,
    Base,
    ClaimCode,
    Device,
    DeviceGroup,
    DeviceGroupMember,
    DeviceSync,
    DeviceUpdate,
    RefreshToken,
    Release,
    Rollout,
    Telemetry,
    User,
)

__all__ = [
    "AuditLog",
    "Base",
    "ClaimCode",
    "Device",
    "DeviceGroup",
    "DeviceGroupMember",
    "DeviceSync",
    "DeviceUpdate",
    "RefreshToken",
    "Release",
    "Rollout",
    "Telemetry",
    "User",
    "create_engine",
    "create_sessionmaker",
]
