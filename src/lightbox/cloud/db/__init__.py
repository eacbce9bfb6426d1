"""The cloud's database: models, the async engine and sessions, and Alembic migrations."""

from lightbox.cloud.db.engine import create_engine, create_sessionmaker
from lightbox.cloud.db.models import AuditLog, Base, ClaimCode, Device, RefreshToken, User

__all__ = [
    "AuditLog",
    "Base",
    "ClaimCode",
    "Device",
    "RefreshToken",
    "User",
    "create_engine",
    "create_sessionmaker",
]
