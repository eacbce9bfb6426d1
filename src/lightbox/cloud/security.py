"""Passwords, tokens and secrets.

- Passwords: argon2id (argon2-cffi); a hash made with other parameters is replaced on the
  next successful log-in. Hashing runs off the event loop.
- Access tokens: JWT, HS256, claims ``sub`` (user id), ``sid`` (session: the refresh
  token family), ``jti``, ``iat``, ``exp``, ``typ: "access"``. Checked against the clock
  the service runs on (tests move it).
- Refresh tokens, device registration secrets: opaque random strings (``lbr_...``,
  ``lbs_...``); only their SHA-256 is stored (they carry 256 random bits, so a fast hash is
  enough).
- Claim codes: six Crockford base32 characters shown as ``K7P-2QX``; stored as an HMAC
  keyed with the service secret (30 bits are too few for a plain hash).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from lightbox.cloud.errors import Unauthorized

ALGORITHM = "HS256"
ACCESS_TYPE = "access"
REFRESH_PREFIX = "lbr_"
DEVICE_SECRET_PREFIX = "lbs_"
MAX_TOKEN_CHARS = 512

CLAIM_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
"""Crockford's base32: no I, L, O or U, so a code read off a matrix is hard to mistype."""
CLAIM_CODE_CHARS = 6
CLAIM_PREFIX_CHARS = 3
_CLAIM_READ = str.maketrans({"O": "0", "I": "1", "L": "1"})


# -- passwords ------------------------------------------------------------------------------


class Passwords:
    """argon2id hashing; ``verify`` says when a stored hash should be replaced."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self.hasher = hasher or PasswordHasher()
        self._dummy: str | None = None

    @classmethod
    def fast(cls) -> Passwords:
        """Cheap parameters, for tests only."""
        return cls(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self.hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> tuple[bool, str | None]:
        """``(ok, new_hash)``; ``new_hash`` is set when ``stored`` used old parameters.

        ``stored=None`` (no such user) still spends the time of one verification, so that
        timing does not tell which e-mail addresses have an account.
        """
        if stored is None:
            if self._dummy is None:
                self._dummy = await self.hash(secrets.token_urlsafe(16))
            stored, password = self._dummy, password + "\x00"
            await asyncio.to_thread(self._check, stored, password)
            return False, None
        if not await asyncio.to_thread(self._check, stored, password):
            return False, None
        if self.hasher.check_needs_rehash(stored):
            return True, await self.hash(password)
        return True, None

    def _check(self, stored: str, password: str) -> bool:
        try:
            return self.hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


# -- access tokens --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: uuid.UUID
    session_id: uuid.UUID
    jti: str
    issued_at: datetime
    expires_at: datetime


def issue_access_token(
    secret: bytes, *, user_id: uuid.UUID, session_id: uuid.UUID, now: datetime, ttl_s: int
) -> tuple[str, AccessClaims]:
    issued = int(now.timestamp())
    claims = AccessClaims(
        user_id=user_id,
        session_id=session_id,
        jti=secrets.token_urlsafe(12),
        issued_at=datetime.fromtimestamp(issued, now.tzinfo),
        expires_at=datetime.fromtimestamp(issued + ttl_s, now.tzinfo),
    )
    payload = {
        "sub": str(user_id),
        "sid": str(session_id),
        "jti": claims.jti,
        "iat": issued,
        "exp": issued + ttl_s,
        "typ": ACCESS_TYPE,
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM), claims


def decode_access_token(secret: bytes, token: str, *, now: datetime) -> AccessClaims:
    """The claims of a valid, unexpired access token; else :class:`Unauthorized`."""
    if len(token) > MAX_TOKEN_CHARS:
        raise Unauthorized("the access token is not valid; log in again", field="authorization")
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={
                "require": ["sub", "sid", "jti", "iat", "exp", "typ"],
                "verify_exp": False,  # checked below against the service's clock
                "verify_iat": False,
            },
        )
        claims = AccessClaims(
            user_id=uuid.UUID(str(payload["sub"])),
            session_id=uuid.UUID(str(payload["sid"])),
            jti=str(payload["jti"]),
            issued_at=datetime.fromtimestamp(int(payload["iat"]), now.tzinfo),
            expires_at=datetime.fromtimestamp(int(payload["exp"]), now.tzinfo),
        )
        if payload["typ"] != ACCESS_TYPE:
            raise ValueError("not an access token")
    except (jwt.PyJWTError, ValueError, TypeError, OverflowError) as err:
        raise Unauthorized(
            "the access token is not valid; log in again", field="authorization"
        ) from err
    if claims.expires_at <= now:
        raise Unauthorized(
            "the access token has expired; get a new one from POST /api/v1/auth/refresh",
            field="authorization",
        )
    return claims


# -- opaque secrets -------------------------------------------------------------------------


def digest(token: str) -> str:
    """SHA-256 (hex) of a high-entropy token: what the database keeps."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_refresh_token() -> tuple[str, str]:
    """``(token, digest)``."""
    token = REFRESH_PREFIX + secrets.token_urlsafe(32)
    return token, digest(token)


def new_device_secret() -> tuple[str, str]:
    """A device's registration secret and its digest."""
    token = DEVICE_SECRET_PREFIX + secrets.token_urlsafe(32)
    return token, digest(token)


def same_digest(token: str, stored: str) -> bool:
    return hmac.compare_digest(digest(token), stored)


# -- claim codes ----------------------------------------------------------------------------


def new_claim_code() -> str:
    """Six random Crockford base32 characters, e.g. ``K7P2QX`` (shown as ``K7P-2QX``)."""
    return "".join(secrets.choice(CLAIM_ALPHABET) for _ in range(CLAIM_CODE_CHARS))


def format_claim_code(code: str) -> str:
    return f"{code[:CLAIM_PREFIX_CHARS]}-{code[CLAIM_PREFIX_CHARS:]}"


def normalize_claim_code(text: str) -> str | None:
    """The canonical code for what a person typed (case, dashes, spaces, O/0, I/L/1), or
    ``None`` when it cannot be a code."""
    code = "".join(text.split()).replace("-", "").upper().translate(_CLAIM_READ)
    if len(code) != CLAIM_CODE_CHARS or any(c not in CLAIM_ALPHABET for c in code):
        return None
    return code


def claim_code_hash(secret: bytes, code: str) -> str:
    return hmac.new(secret, b"claim-code:" + code.encode(), hashlib.sha256).hexdigest()


def expires(now: datetime, ttl_s: int) -> datetime:
    return now + timedelta(seconds=ttl_s)
