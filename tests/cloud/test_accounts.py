"""Accounts: sign-up, log-in, rate limits, refresh rotation and reuse, log-out, passwords.

Every test runs on PostgreSQL + Redis and on SQLite alone (the ``backend`` fixture).
"""

from __future__ import annotations

import asyncio

import pytest

from tests.cloud.conftest import PASSWORD, Api, Clock, User, assert_problem

SIGNUP = "/api/v1/auth/signup"
LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
PASSWORD_URL = "/api/v1/auth/password"
ME = "/api/v1/me"


async def me(api: Api, token: str) -> int:
    r = await api.client.get(ME, headers={"Authorization": f"Bearer {token}"})
    return r.status_code


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-address", "password": PASSWORD}, "email"),
        ({"email": "a@b", "password": PASSWORD}, "email"),
        ({"email": "a@example.com", "password": "short"}, "password"),
        ({"email": "a@example.com", "password": "x" * 257}, "password"),
        ({"email": "a@example.com"}, "password"),
        ({"email": "a@example.com", "password": PASSWORD, "admin": True}, "admin"),
    ],
)
async def test_signup_validation(api: Api, body: dict[str, object], field: str) -> None:
    r = await api.client.post(SIGNUP, json=body)
    assert_problem(r, 422, "invalid_command", field)


async def test_signup_then_me(api: Api) -> None:
    r = await api.client.post(SIGNUP, json={"email": "  Ada@Example.COM ", "password": PASSWORD})
    assert r.status_code == 201, r.text
    assert r.json()["email"] == "ada@example.com"
    assert "password" not in r.text and "hash" not in r.text
    tokens = (
        await api.client.post(LOGIN, json={"email": "ADA@example.com", "password": PASSWORD})
    ).json()
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == api.services.config.access_token_ttl_s
    r = await api.client.get(ME, headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert r.status_code == 200
    assert r.json()["email"] == "ada@example.com"


async def test_duplicate_email_any_case(api: Api) -> None:
    await api.user("bob@example.com")
    r = await api.client.post(SIGNUP, json={"email": "BOB@example.com", "password": PASSWORD})
    assert_problem(r, 409, "conflict", "email")


async def test_concurrent_duplicate_signups_make_one_account(api: Api) -> None:
    body = {"email": "race@example.com", "password": PASSWORD}
    results = await asyncio.gather(*(api.client.post(SIGNUP, json=body) for _ in range(5)))
    assert sorted(r.status_code for r in results) == [201, 409, 409, 409, 409]


async def test_wrong_password_and_unknown_email_look_the_same(api: Api) -> None:
    await api.user("carol@example.com")
    wrong = await api.client.post(
        LOGIN, json={"email": "carol@example.com", "password": "nope-nope"}
    )
    unknown = await api.client.post(
        LOGIN, json={"email": "dan@example.com", "password": "nope-nope"}
    )
    a = assert_problem(wrong, 401, "unauthorized")
    b = assert_problem(unknown, 401, "unauthorized")
    assert a["detail"] == b["detail"]


async def test_login_rate_limit_per_email(api: Api) -> None:
    await api.user("eve@example.com")
    rule = api.services.limits.login_email
    for _ in range(rule.limit):
        r = await api.client.post(
            LOGIN, json={"email": "eve@example.com", "password": "guess-guess"}
        )
        assert r.status_code == 401
    r = await api.client.post(LOGIN, json={"email": "eve@example.com", "password": PASSWORD})
    body = assert_problem(r, 429, "rate_limited")
    assert 1 <= int(r.headers["Retry-After"]) <= rule.window_s
    assert "try again" in body["detail"]
    # another account is not affected by this one's limit
    other = await api.user()
    assert await me(api, other.access_token) == 200


async def test_successful_login_resets_the_email_count(api: Api) -> None:
    user = await api.user()
    rule = api.services.limits.login_email
    for _ in range(3):
        for _ in range(rule.limit - 1):
            r = await api.client.post(LOGIN, json={"email": user.email, "password": "wrong-wrong"})
            assert r.status_code == 401
        await api.login(user.email)


async def test_login_rate_limit_per_ip(api: Api) -> None:
    rule = api.services.limits.login_ip
    statuses = []
    for i in range(rule.limit + 1):
        r = await api.client.post(
            LOGIN, json={"email": f"n{i}@example.com", "password": "wrong-wrong"}
        )
        statuses.append(r.status_code)
    assert statuses[:-1] == [401] * rule.limit
    assert statuses[-1] == 429


async def test_refresh_rotates(api: Api) -> None:
    user = await api.user()
    r = await api.client.post(REFRESH, json={"refresh_token": user.refresh_token})
    assert r.status_code == 200, r.text
    new = r.json()
    assert new["refresh_token"] != user.refresh_token
    assert await me(api, new["access_token"]) == 200
    # the new one works once more
    r = await api.client.post(REFRESH, json={"refresh_token": new["refresh_token"]})
    assert r.status_code == 200


async def test_refresh_reuse_ends_the_session(api: Api) -> None:
    user = await api.user()
    other_session = await api.login(user.email)
    first = (await api.client.post(REFRESH, json={"refresh_token": user.refresh_token})).json()
    # the old token again (a thief's copy): refused, and the whole family is revoked
    r = await api.client.post(REFRESH, json={"refresh_token": user.refresh_token})
    assert_problem(r, 401, "unauthorized")
    r = await api.client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    assert_problem(r, 401, "unauthorized")
    assert await me(api, first["access_token"]) == 401
    assert await me(api, user.access_token) == 401
    # a separate log-in is a separate session: untouched
    assert await me(api, other_session["access_token"]) == 200


async def test_concurrent_refreshes_with_one_token(api: Api) -> None:
    user = await api.user()
    results = await asyncio.gather(
        *(api.client.post(REFRESH, json={"refresh_token": user.refresh_token}) for _ in range(4))
    )
    assert sum(r.status_code == 200 for r in results) <= 1
    assert all(r.status_code in (200, 401) for r in results)


async def test_refresh_token_expires(api: Api, clock: Clock) -> None:
    user = await api.user()
    clock.advance(api.services.config.refresh_token_ttl_s + 1)
    r = await api.client.post(REFRESH, json={"refresh_token": user.refresh_token})
    assert_problem(r, 401, "unauthorized")


@pytest.mark.parametrize("token", ["", "lbr_nope", "x" * 600])
async def test_unknown_refresh_token(api: Api, token: str) -> None:
    r = await api.client.post(REFRESH, json={"refresh_token": token})
    assert r.status_code in (401, 422)


async def test_access_token_expires(api: Api, clock: Clock) -> None:
    user = await api.user()
    clock.advance(api.services.config.access_token_ttl_s - 1)
    assert await me(api, user.access_token) == 200
    clock.advance(1)
    r = await api.client.get(ME, headers=user.headers)
    body = assert_problem(r, 401, "unauthorized")
    assert "expired" in body["detail"]
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer nonsense", "Basic dXNlcjpwdw==", "Bearer " + "a" * 2000],
)
async def test_bad_access_tokens(api: Api, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    r = await api.client.get(ME, headers=headers)
    assert_problem(r, 401, "unauthorized")


async def test_tampered_and_foreign_tokens(api: Api) -> None:
    import jwt

    user = await api.user()
    claims = jwt.decode(user.access_token, options={"verify_signature": False})
    forged = jwt.encode({**claims, "exp": claims["exp"] + 3600}, "another-secret-" * 4, "HS256")
    assert await me(api, forged) == 401
    none_alg = jwt.encode(claims, None, algorithm="none")  # type: ignore[arg-type]
    assert await me(api, none_alg) == 401
    refresh_typ = jwt.encode({**claims, "typ": "refresh"}, api.services.secret, "HS256")
    assert await me(api, refresh_typ) == 401


async def test_logout_ends_the_session(api: Api) -> None:
    user = await api.user()
    other = await api.login(user.email)
    r = await api.client.post(LOGOUT, headers=user.headers)
    assert r.status_code == 204
    assert await me(api, user.access_token) == 401
    r = await api.client.post(REFRESH, json={"refresh_token": user.refresh_token})
    assert_problem(r, 401, "unauthorized")
    assert await me(api, other["access_token"]) == 200


async def test_logout_with_refresh_token_only(api: Api) -> None:
    user = await api.user()
    r = await api.client.post(LOGOUT, json={"refresh_token": user.refresh_token})
    assert r.status_code == 204
    assert await me(api, user.access_token) == 401
    # unknown token: nothing to end, still 204; nothing at all: 401
    assert (await api.client.post(LOGOUT, json={"refresh_token": "lbr_x"})).status_code == 204
    assert_problem(await api.client.post(LOGOUT), 401, "unauthorized")


async def test_logout_everywhere(api: Api) -> None:
    user = await api.user()
    other = await api.login(user.email)
    stranger = await api.user()
    r = await api.client.post(LOGOUT, json={"everywhere": True}, headers=user.headers)
    assert r.status_code == 204
    assert await me(api, user.access_token) == 401
    assert await me(api, other["access_token"]) == 401
    assert await me(api, stranger.access_token) == 200


async def test_logout_cannot_end_someone_elses_session(api: Api) -> None:
    alice = await api.user()
    bob = await api.user()
    r = await api.client.post(
        LOGOUT, json={"refresh_token": bob.refresh_token}, headers=alice.headers
    )
    assert r.status_code == 204
    assert await me(api, bob.access_token) == 200
    assert await me(api, alice.access_token) == 401


async def test_password_change(api: Api) -> None:
    user = await api.user()
    other = await api.login(user.email)
    new = "a whole new password"
    r = await api.client.post(
        PASSWORD_URL,
        json={"current_password": "wrong-password", "new_password": new},
        headers=user.headers,
    )
    assert_problem(r, 401, "unauthorized", "current_password")
    r = await api.client.post(
        PASSWORD_URL, json={"current_password": PASSWORD, "new_password": new}, headers=user.headers
    )
    assert r.status_code == 204, r.text
    # this session goes on; the other one ended; only the new password logs in
    assert await me(api, user.access_token) == 200
    assert await me(api, other["access_token"]) == 401
    r = await api.client.post(REFRESH, json={"refresh_token": other["refresh_token"]})
    assert r.status_code == 401
    r = await api.client.post(LOGIN, json={"email": user.email, "password": PASSWORD})
    assert r.status_code == 401
    await api.login(user.email, new)


async def test_password_change_needs_a_user(api: Api) -> None:
    r = await api.client.post(
        PASSWORD_URL, json={"current_password": PASSWORD, "new_password": "x" * 12}
    )
    assert_problem(r, 401, "unauthorized")


async def test_password_rehashed_when_parameters_change(api: Api) -> None:
    from argon2 import PasswordHasher
    from sqlalchemy import select

    from lightbox.cloud.db import User as UserRow
    from lightbox.cloud.security import Passwords

    user = await api.user()
    api.services.passwords = Passwords(PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1))
    async with api.services.sessionmaker() as session:
        before = await session.scalar(
            select(UserRow.password_hash).where(UserRow.email == user.email)
        )
    await api.login(user.email)
    async with api.services.sessionmaker() as session:
        after = await session.scalar(
            select(UserRow.password_hash).where(UserRow.email == user.email)
        )
    assert before is not None and after is not None
    assert "t=1" in before and "t=2" in after
    await api.login(user.email)


def test_user_headers_helper() -> None:
    assert User("a", "b", "tok", "r").headers == {"Authorization": "Bearer tok"}
