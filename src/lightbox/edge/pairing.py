"""One-time pairing codes, exchanged once for a local API token.

A code is 8 characters of Crockford base32 (40 random bits), shown as ``XXXX-XXXX``: short
enough to type from the matrix, long enough that a handful of guesses cannot find it. It
reaches a person through the Improv provisioning result URL (``http://<ip>:<port>/#pair=
<code>``) or on the matrix when an already-paired client asks for one.

What is stored (the store's ``meta`` table, one JSON value per key):

- ``pairing.code``: the pending code's salted SHA-256 and expiry; never the code itself.
  Issuing a new code replaces the previous one; redeeming it clears it (single use).
- ``pairing.failures``: the times of recent failed attempts, so that a restart does not
  reset the attempt limit (at most :data:`MAX_FAILURES` per :data:`FAILURE_WINDOW`; then
  every attempt is refused until the oldest failure leaves the window).

Typed input is forgiving: case, spaces and dashes do not matter, and ``O``/``I``/``L`` are
read as ``0``/``1``/``1`` (Crockford's rule).

Exceptions::

    PairingError        code: pairing_invalid | pairing_expired | rate_limited
                        (retry_after: seconds to wait, for rate_limited)

The methods are synchronous (SQLite): call them with ``asyncio.to_thread`` from async code.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Literal

from lightbox.edge.store import Store, TokenInfo, Tx

__all__ = [
    "ALPHABET",
    "CODE_LENGTH",
    "FAILURE_WINDOW",
    "MAX_FAILURES",
    "Pairing",
    "PairingError",
    "PairingErrorCode",
    "format_code",
    "normalize_code",
]

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
"""Crockford's base32: no I, L, O or U, so that nothing reads as something else."""
CODE_LENGTH = 8
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=10)
MAX_TTL_S = 24 * 3600.0

_CODE_KEY = "pairing.code"
_FAILURES_KEY = "pairing.failures"
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1"})

PairingErrorCode = Literal["pairing_invalid", "pairing_expired", "rate_limited"]


class PairingError(Exception):
    """A pairing code was refused; ``code`` says why, the message what to do."""

    def __init__(
        self, code: PairingErrorCode, message: str, *, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.code: PairingErrorCode = code
        self.message = message
        self.retry_after = retry_after


def normalize_code(text: str) -> str | None:
    """The canonical 8 characters of a typed code, or None if it cannot be one."""
    cleaned = "".join(text.split()).replace("-", "").upper().translate(_READ_AS)
    if len(cleaned) != CODE_LENGTH or any(c not in ALPHABET for c in cleaned):
        return None
    return cleaned


def format_code(canonical: str) -> str:
    """``ABCD1234`` -> ``ABCD-1234``."""
    half = len(canonical) // 2
    return f"{canonical[:half]}-{canonical[half:]}"


def _digest(salt: bytes, canonical: str) -> bytes:
    return hashlib.sha256(salt + canonical.encode("ascii")).digest()


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Pairing:
    """Issue and redeem one-time pairing codes kept (hashed) in ``store``."""

    def __init__(self, store: Store, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self._store = store
        self._clock = clock

    def _now(self) -> datetime:
        now = self._clock()
        if now.utcoffset() is None:
            raise ValueError(f"the pairing clock must give aware datetimes, got {now!r}")
        return now.astimezone(UTC)

    # -- issuing ----------------------------------------------------------------------
    def issue(self, ttl_s: float = 600) -> str:
        """A new code (``XXXX-XXXX``) valid for ``ttl_s`` seconds; the previous one is void."""
        if not 0 < ttl_s <= MAX_TTL_S:
            raise ValueError(f"ttl_s must be in (0, {MAX_TTL_S:g}] seconds, got {ttl_s}")
        canonical = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
        salt = secrets.token_bytes(16)
        now = self._now()
        record = {
            "salt": salt.hex(),
            "sha256": _digest(salt, canonical).hex(),
            "issued_at": now.isoformat(),
            "expires_at": (now + timedelta(seconds=ttl_s)).isoformat(),
        }
        with self._store.transaction() as tx:
            tx.set_meta(_CODE_KEY, json.dumps(record))
        return format_code(canonical)

    def pending_until(self) -> datetime | None:
        """When the pending code expires, or None if there is no unexpired, unused code."""
        record = _load_code(self._store.get_meta(_CODE_KEY))
        if record is None:
            return None
        expires = datetime.fromisoformat(record["expires_at"])
        return expires if expires > self._now() else None

    def cancel(self) -> None:
        """Void the pending code, if any."""
        with self._store.transaction() as tx:
            tx.set_meta(_CODE_KEY, "{}")

    # -- redeeming --------------------------------------------------------------------
    def redeem(self, code: str, name: str) -> tuple[TokenInfo, str]:
        """Exchange ``code`` for a new API token named ``name``: ``(info, token)``.

        The code is used up; the token is created in the same transaction. Raises
        PairingError (invalid, expired or rate limited) and ValueError for a bad name.
        """
        name = name.strip()
        if not 1 <= len(name) <= 64:
            raise ValueError("name must be 1 to 64 characters (who or what will use the token)")
        with self._store.transaction() as tx:
            outcome = self._redeem(tx, code, name)
        if isinstance(outcome, PairingError):
            raise outcome
        return outcome

    def _redeem(self, tx: Tx, code: str, name: str) -> tuple[TokenInfo, str] | PairingError:
        """Runs in the transaction; a failure is returned (so its record is committed)."""
        now = self._now()
        failures = [
            t for t in _load_failures(tx.get_meta(_FAILURES_KEY)) if now - t < FAILURE_WINDOW
        ]
        if len(failures) >= MAX_FAILURES:
            wait = (min(failures) + FAILURE_WINDOW - now).total_seconds()
            return PairingError(
                "rate_limited",
                f"too many wrong pairing codes; try again in {max(1, round(wait))} s",
                retry_after=max(1.0, wait),
            )
        canonical = normalize_code(code)
        record = _load_code(tx.get_meta(_CODE_KEY))
        matches = False
        if canonical is not None and record is not None:
            expected = bytes.fromhex(record["sha256"])
            matches = hmac.compare_digest(
                _digest(bytes.fromhex(record["salt"]), canonical), expected
            )
        if not matches:
            failures.append(now)
            tx.set_meta(_FAILURES_KEY, json.dumps([t.isoformat() for t in failures]))
            left = MAX_FAILURES - len(failures)
            return PairingError(
                "pairing_invalid",
                "this pairing code is not valid: check it, or ask the LightBox for a new one"
                + (f" ({left} attempts left)" if left else " (no attempts left for now)"),
            )
        assert record is not None
        if datetime.fromisoformat(record["expires_at"]) <= now:
            tx.set_meta(_CODE_KEY, "{}")
            return PairingError(
                "pairing_expired", "this pairing code has expired: ask the LightBox for a new one"
            )
        tx.set_meta(_CODE_KEY, "{}")
        tx.set_meta(_FAILURES_KEY, "[]")
        return tx.create_token(name)


def _load_code(value: str | None) -> dict[str, str] | None:
    """The stored code record, or None when there is none (or it cannot be read)."""
    if not value:
        return None
    try:
        record = json.loads(value)
    except ValueError:
        return None
    if not isinstance(record, dict) or not {"salt", "sha256", "expires_at"} <= record.keys():
        return None
    return {k: str(v) for k, v in record.items()}


def _load_failures(value: str | None) -> list[datetime]:
    if not value:
        return []
    try:
        items = json.loads(value)
        return [datetime.fromisoformat(str(t)) for t in items] if isinstance(items, list) else []
    except ValueError:
        return []
