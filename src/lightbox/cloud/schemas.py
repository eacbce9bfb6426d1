"""Request and response bodies of the cloud API (``/api/v1``).

The client SDK and the dashboard use these shapes; a command and its result are the
protocol's own (:data:`lightbox.protocol.Command`, :class:`lightbox.protocol.CommandResult`).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from lightbox.protocol.topics import DEVICE_ID_PATTERN

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 256
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s.]+$")


def _email(value: str) -> str:
    value = value.strip().lower()
    if not _EMAIL.match(value):
        raise ValueError("not an e-mail address (name@example.com)")
    return value


Email = Annotated[str, Field(max_length=254), AfterValidator(_email)]
Password = Annotated[
    str,
    Field(
        min_length=MIN_PASSWORD_CHARS,
        max_length=MAX_PASSWORD_CHARS,
        description=f"{MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters.",
    ),
]
DeviceId = Annotated[str, StringConstraints(pattern=DEVICE_ID_PATTERN)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Opaque = Annotated[str, Field(min_length=1, max_length=512)]


def _refuse_nul(value: object) -> object:
    """PostgreSQL text and JSONB cannot hold U+0000: refuse it here, as a 422, not a 500."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("must not contain the NUL character (U+0000)")
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_nul(key)
            _refuse_nul(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _refuse_nul(item)
    return value


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        return _refuse_nul(value)


# -- accounts -------------------------------------------------------------------------------


class Credentials(Body):
    email: Email
    password: Password


class LoginRequest(Body):
    email: Email
    password: Annotated[str, Field(min_length=1, max_length=MAX_PASSWORD_CHARS)]


class TokenPair(BaseModel):
    access_token: str = Field(description="JWT for `Authorization: Bearer`; short-lived.")
    refresh_token: str = Field(description="Opaque; exchange at /auth/refresh (single use).")
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds the access token is valid.")


class RefreshRequest(Body):
    refresh_token: Opaque


class LogoutRequest(Body):
    refresh_token: Opaque | None = Field(
        default=None, description="End this token's session (also without an access token)."
    )
    everywhere: bool = Field(default=False, description="End every session of the account.")


class PasswordChange(Body):
    current_password: Annotated[str, Field(min_length=1, max_length=MAX_PASSWORD_CHARS)]
    new_password: Password


class UserOut(BaseModel):
    id: str
    email: str
    created_at: datetime
    is_admin: bool = False
    """May publish releases and run rollouts (``lightbox release admin``)."""


# -- devices --------------------------------------------------------------------------------


class RegisterRequest(Body):
    device_id: DeviceId
    name: Name
    version: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    hardware: Annotated[str, StringConstraints(max_length=128)] = ""
    registration_secret: Opaque | None = Field(
        default=None, description="What the first registration returned; required afterwards."
    )


class MqttCredentials(BaseModel):
    url: str | None = Field(description="The cloud broker devices connect to.")
    username: str
    password: str
    topic_prefix: str = "lightbox"


class Registration(BaseModel):
    device_id: str
    registration_secret: str | None = Field(
        description="Only on the first registration: keep it; it proves this device later."
    )
    mqtt: MqttCredentials
    claim_code: str | None = Field(description="Show it on the matrix (unclaimed devices).")
    claim_expires_at: datetime | None


class ClaimCodeOut(BaseModel):
    claim_code: str = Field(description="Like K7P-2QX.")
    claim_expires_at: datetime


class ClaimRequest(Body):
    code: Annotated[str, StringConstraints(min_length=1, max_length=32)]


class DeviceOut(BaseModel):
    device_id: str
    name: str
    version: str
    hardware: str
    online: bool
    last_seen_at: datetime | None
    registered_at: datetime
    claimed_at: datetime | None
    credentials_revoked: bool


class DevicePatch(Body):
    name: Name
