"""Settings of a cloud instance: ``LIGHTBOX_CLOUD_*`` variables and ``lightbox cloud run`` flags.

Flags win over variables, variables over the defaults below. Built late (in the command or
the test, never at import time) and validated: an invalid value stops start-up with a
message naming it. Secrets have no working default: ``jwt_secret`` must be given (at least
32 bytes), except that ``lightbox cloud run --dev`` may generate one into the data dir.
"""

from __future__ import annotations

import os
import secrets
import uuid
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_SECRET_BYTES = 32
DEV_SECRET_FILE = "jwt-secret"


class ConfigError(Exception):
    """The cloud's configuration is invalid; the message names the setting."""


def _default_instance_id() -> str:
    return f"cloud-{uuid.uuid4().hex[:12]}"


class CloudConfig(BaseSettings):
    """Everything a cloud instance needs to start."""

    model_config = SettingsConfigDict(
        env_prefix="LIGHTBOX_CLOUD_",
        extra="forbid",
        validate_default=True,
    )

    http_host: str = Field(default="127.0.0.1", description="Address of the HTTP API.")
    http_port: int = Field(default=8000, ge=0, le=65535)
    public_url: str | None = Field(
        default=None, description="How users and devices reach this service (https://...)."
    )
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="Proxies whose X-Forwarded-For is trusted (rate limits use the client IP).",
    )
    data_dir: Path = Field(
        default=Path("./lightbox-cloud"), description="Dev files (a generated --dev secret)."
    )
    database_url: str = Field(
        default="sqlite+aiosqlite:///./lightbox-cloud.db",
        description="postgresql+asyncpg://user:pass@host/db or sqlite+aiosqlite:///path.",
    )
    database_pool_size: int = Field(default=10, ge=1, le=200)
    redis_url: str | None = Field(
        default=None,
        description="redis://host:port/db; required when more than one instance runs.",
    )
    redis_prefix: str = Field(default="lightbox:", description="Prefix of every Redis key.")
    mqtt_url: str | None = Field(
        default=None, description="The cloud broker, admin connection: mqtt(s)://host:port."
    )
    mqtt_admin_username: str | None = None
    mqtt_admin_password: SecretStr | None = None
    device_mqtt_url: str | None = Field(
        default=None, description="The broker URL devices are given (default: mqtt_url's)."
    )
    storage_url: str = Field(
        default="./lightbox-cloud-storage",
        description="s3://bucket[/prefix] or a local directory (firmware releases).",
    )
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    release_trust_dir: Path | None = Field(
        default=None,
        description="Trusted release keys (*.pub, 'revoked'): releases are verified against it.",
    )
    release_url_ttl_s: int = Field(
        default=3600, ge=60, le=7 * 24 * 3600, description="Lifetime of presigned artifact URLs."
    )
    jwt_secret: SecretStr | None = Field(
        default=None, description=f"Signs access tokens; at least {MIN_SECRET_BYTES} bytes."
    )
    access_token_ttl_s: int = Field(default=900, ge=10, le=24 * 3600)
    refresh_token_ttl_s: int = Field(default=30 * 24 * 3600, ge=60, le=365 * 24 * 3600)
    claim_code_ttl_s: int = Field(default=600, ge=30, le=24 * 3600)
    instance_id: str = Field(default_factory=_default_instance_id, min_length=1, max_length=64)
    sync_workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Sync worker processes of this instance (1: in the API process).",
    )
    sync_partitions: int = Field(
        default=1,
        ge=1,
        le=256,
        description="Concurrent merge transactions per sync worker (one takes bigger "
        "batches: fewer transactions, less CPU; more sync workers scale out).",
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["console", "json"] = "console"

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if scheme not in ("postgresql+asyncpg", "sqlite+aiosqlite"):
            raise ValueError(
                "use postgresql+asyncpg://user:pass@host:5432/db or sqlite+aiosqlite:///path.db"
            )
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("use redis://host:6379/0 (rediss:// for TLS)")
        return value

    @field_validator("mqtt_url", "device_mqtt_url")
    @classmethod
    def _check_mqtt_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("mqtt", "mqtts", "ws", "wss") or not parts.hostname:
            raise ValueError("use mqtt://host:1883 or mqtts://host:8883")
        return value

    @field_validator("storage_url")
    @classmethod
    def _check_storage_url(cls, value: str) -> str:
        if value.startswith("s3://"):
            bucket = value.removeprefix("s3://").split("/", 1)[0]
            if not bucket:
                raise ValueError("s3:// needs a bucket: s3://bucket[/prefix]")
        elif "://" in value and not value.startswith("file://"):
            raise ValueError("use s3://bucket[/prefix] or a local directory")
        return value

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        if value is not None:
            if urlsplit(value).scheme not in ("http", "https"):
                raise ValueError("use https://host[:port]")
            return value.rstrip("/")
        return None

    @field_validator("jwt_secret")
    @classmethod
    def _check_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().encode()) < MIN_SECRET_BYTES:
            raise ValueError(
                f"must be at least {MIN_SECRET_BYTES} bytes; make one with "
                "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
            )
        return value

    @model_validator(mode="after")
    def _check_pairs(self) -> CloudConfig:
        if (self.mqtt_admin_username is None) != (self.mqtt_admin_password is None):
            raise ValueError("give both mqtt_admin_username and mqtt_admin_password, or neither")
        return self

    # -- derived ---------------------------------------------------------------------------

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def devices_mqtt_url(self) -> str | None:
        """The broker URL handed to devices: ``device_mqtt_url``, else ``mqtt_url``'s."""
        if self.device_mqtt_url is not None:
            return self.device_mqtt_url
        if self.mqtt_url is None:
            return None
        parts = urlsplit(self.mqtt_url)
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname}{port}"

    @property
    def storage_is_s3(self) -> bool:
        return self.storage_url.startswith("s3://")

    @property
    def storage_dir(self) -> Path | None:
        if self.storage_is_s3:
            return None
        return Path(self.storage_url.removeprefix("file://"))

    def secret(self) -> bytes:
        """The signing secret; :class:`ConfigError` when there is none."""
        if self.jwt_secret is None:
            raise ConfigError(
                "setting 'jwt_secret' is required: set LIGHTBOX_CLOUD_JWT_SECRET to at least "
                f"{MIN_SECRET_BYTES} random bytes (or run `lightbox cloud run --dev`)"
            )
        return self.jwt_secret.get_secret_value().encode()


def load_config(**flags: Any) -> CloudConfig:
    """Flags (``None`` values are left out) over ``LIGHTBOX_CLOUD_*`` over defaults.

    Raises :class:`ConfigError` naming the first invalid setting, or a missing secret.
    """
    from pydantic import ValidationError

    given = {k: v for k, v in flags.items() if v is not None}
    try:
        config = CloudConfig(**given)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        msg = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"setting {where!r}: {msg}") from err
    config.secret()
    return config


def dev_secret(data_dir: Path) -> SecretStr:
    """A signing secret kept in ``data_dir`` (made once, mode 0600): for ``--dev`` only."""
    path = data_dir / DEV_SECRET_FILE
    if path.exists():
        return SecretStr(path.read_text().strip())
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return SecretStr(value)
