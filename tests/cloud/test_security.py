"""Passwords, access tokens, opaque secrets and claim codes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher

from lightbox.cloud import security
from lightbox.cloud.errors import Unauthorized

KEY = b"k" * 32
NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


async def test_passwords() -> None:
    passwords = security.Passwords.fast()
    stored = await passwords.hash("hunter2hunter2")
    assert stored.startswith("$argon2id$")
    assert await passwords.verify(stored, "hunter2hunter2") == (True, None)
    assert await passwords.verify(stored, "hunter3hunter3") == (False, None)
    assert await passwords.verify("not a hash", "x") == (False, None)
    assert await passwords.verify(None, "anything") == (False, None)


async def test_rehash_when_parameters_change() -> None:
    old = await security.Passwords.fast().hash("pw-pw-pw-pw")
    stronger = security.Passwords(PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1))
    ok, new = await stronger.verify(old, "pw-pw-pw-pw")
    assert ok and new is not None and new != old
    assert await stronger.verify(new, "pw-pw-pw-pw") == (True, None)


def test_access_token_round_trip() -> None:
    user, session = uuid.uuid4(), uuid.uuid4()
    token, claims = security.issue_access_token(
        KEY, user_id=user, session_id=session, now=NOW, ttl_s=900
    )
    decoded = security.decode_access_token(KEY, token, now=NOW + timedelta(seconds=899))
    assert decoded == claims
    assert (decoded.user_id, decoded.session_id) == (user, session)
    assert decoded.expires_at - decoded.issued_at == timedelta(seconds=900)
    with pytest.raises(Unauthorized, match="expired"):
        security.decode_access_token(KEY, token, now=NOW + timedelta(seconds=900))
    with pytest.raises(Unauthorized, match="not valid"):
        security.decode_access_token(b"j" * 32, token, now=NOW)
    with pytest.raises(Unauthorized):
        security.decode_access_token(KEY, token[:-2] + "xx", now=NOW)


def test_every_token_is_different() -> None:
    user, session = uuid.uuid4(), uuid.uuid4()
    tokens = {
        security.issue_access_token(KEY, user_id=user, session_id=session, now=NOW, ttl_s=60)[0]
        for _ in range(20)
    }
    assert len(tokens) == 20


def test_opaque_secrets() -> None:
    token, stored = security.new_refresh_token()
    assert token.startswith("lbr_") and len(token) > 40
    assert security.same_digest(token, stored)
    assert not security.same_digest(token + "x", stored)
    assert token not in stored
    secret, stored = security.new_device_secret()
    assert secret.startswith("lbs_") and security.same_digest(secret, stored)


def test_claim_codes() -> None:
    codes = {security.new_claim_code() for _ in range(200)}
    assert len(codes) > 190
    for code in codes:
        assert len(code) == 6 and set(code) <= set(security.CLAIM_ALPHABET)
        shown = security.format_claim_code(code)
        assert shown[3] == "-"
        assert security.normalize_claim_code(shown.lower()) == code
    assert security.normalize_claim_code("k7p-2qx") == "K7P2QX"
    assert security.normalize_claim_code(" o1l-IOo ") == "011100"
    for bad in ("", "K7P-2Q", "K7P-2QXX", "K7P-2QU", "K7P_2QX", "ÄÖÜ-123"):
        assert security.normalize_claim_code(bad) is None
    assert security.claim_code_hash(KEY, "K7P2QX") != security.claim_code_hash(b"o" * 32, "K7P2QX")
