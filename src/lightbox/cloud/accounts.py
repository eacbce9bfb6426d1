"""Accounts and sessions: sign-up, log-in, refresh with rotation, log-out, password change.

A *session* is a refresh-token family: log-in starts one; each refresh revokes the token
used and adds its successor. Presenting a revoked token again (a stolen copy, or a replay)
revokes the whole family. Access tokens name their session (``sid``) and are refused as
soon as it ends: every authenticated request checks that its session still has a live
token, so log-out and password changes take effect at once on every instance (no wait for
the access token to expire).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from lightbox.cloud import security
from lightbox.cloud.db import AuditLog, RefreshToken, User
from lightbox.cloud.errors import AlreadyExists, Unauthorized
from lightbox.cloud.ratelimit import enforce
from lightbox.cloud.schemas import TokenPair
from lightbox.cloud.services import CloudServices

log = logging.getLogger(__name__)

WRONG_LOGIN = "wrong e-mail or password"


@dataclass(frozen=True, slots=True)
class Principal:
    """The signed-in user of a request."""

    user: User
    claims: security.AccessClaims

    @property
    def user_id(self) -> uuid.UUID:
        return self.user.id


def audit(
    session: AsyncSession,
    at: datetime,
    action: str,
    *,
    user_id: uuid.UUID | None = None,
    device_id: str | None = None,
    ip: str | None = None,
    detail: str | None = None,
) -> None:
    session.add(
        AuditLog(
            at=at,
            action=action,
            user_id=user_id,
            device_id=device_id,
            ip=ip[:64] if ip else None,
            detail=detail[:500] if detail else None,
        )
    )


class Accounts:
    def __init__(self, services: CloudServices) -> None:
        self.s = services

    async def signup(self, email: str, password: str, *, ip: str) -> User:
        await enforce(self.s.limiter, self.s.limits.signup_ip, ip)
        now = self.s.clock()
        password_hash = await self.s.passwords.hash(password)
        async with self.s.sessionmaker() as session:
            if await session.scalar(select(exists().where(User.email == email))):
                raise AlreadyExists(
                    "an account with this e-mail already exists; log in instead", field="email"
                )
            user = User(email=email, password_hash=password_hash, created_at=now)
            session.add(user)
            try:
                await session.flush()
            except IntegrityError as err:  # a concurrent sign-up with the same address
                raise AlreadyExists(
                    "an account with this e-mail already exists; log in instead", field="email"
                ) from err
            audit(session, now, "signup", user_id=user.id, ip=ip)
            await session.commit()
        return user

    async def login(self, email: str, password: str, *, ip: str) -> TokenPair:
        await enforce(self.s.limiter, self.s.limits.login_ip, ip)
        await enforce(self.s.limiter, self.s.limits.login_email, email)
        async with self.s.sessionmaker() as session:
            user = await session.scalar(select(User).where(User.email == email))
            ok, new_hash = await self.s.passwords.verify(
                user.password_hash if user else None, password
            )
            now = self.s.clock()
            if user is None or not ok:
                audit(session, now, "login.failed", user_id=user.id if user else None, ip=ip)
                await session.commit()
                raise Unauthorized(WRONG_LOGIN)
            if new_hash is not None:
                user.password_hash = new_hash
            pair = self._start_session(session, user.id, now)
            audit(session, now, "login", user_id=user.id, ip=ip)
            await session.commit()
        await self.s.limiter.reset(self.s.limits.login_email, email)
        return pair

    async def refresh(self, token: str, *, ip: str) -> TokenPair:
        await enforce(self.s.limiter, self.s.limits.refresh_ip, ip)
        now = self.s.clock()
        async with self.s.sessionmaker() as session:
            row = await session.scalar(
                select(RefreshToken).where(RefreshToken.token_hash == security.digest(token))
            )
            if row is None:
                raise Unauthorized("the refresh token is not valid; log in again")
            if row.revoked_at is not None:
                if row.replaced_by is not None:
                    await self._reuse_detected(session, row, now, ip)
                raise Unauthorized("the session has ended; log in again")
            if row.expires_at <= now:
                raise Unauthorized("the refresh token has expired; log in again")
            new_id = uuid.uuid4()
            claimed = await session.execute(
                update(RefreshToken)
                .where(RefreshToken.id == row.id, RefreshToken.revoked_at.is_(None))
                .values(revoked_at=now, replaced_by=new_id)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]  # raced with another use
                await self._reuse_detected(session, row, now, ip)
                raise Unauthorized("the session has ended; log in again")
            pair = self._issue(session, row.user_id, row.family_id, now, token_id=new_id)
            await session.commit()
        return pair

    async def _reuse_detected(
        self, session: AsyncSession, row: RefreshToken, now: datetime, ip: str
    ) -> None:
        log.warning("refresh token reused: session %s of user %s ended", row.family_id, row.user_id)
        await self._revoke_family(session, row.family_id, now)
        audit(session, now, "refresh.reused", user_id=row.user_id, ip=ip)
        await session.commit()
        raise Unauthorized(
            "this refresh token was already used, so the session was ended for safety; log in again"
        )

    async def authenticate(self, token: str | None) -> Principal:
        """The user of a valid access token whose session is still live."""
        if not token:
            raise Unauthorized(
                "this needs a signed-in user: send 'Authorization: Bearer <access_token>' "
                "(POST /api/v1/auth/login)",
                field="authorization",
            )
        claims = security.decode_access_token(self.s.secret, token, now=self.s.clock())
        live = exists().where(
            RefreshToken.family_id == claims.session_id,
            RefreshToken.user_id == claims.user_id,
            RefreshToken.revoked_at.is_(None),
        )
        async with self.s.sessionmaker() as session:
            user = await session.scalar(select(User).where(User.id == claims.user_id, live))
        if user is None:
            raise Unauthorized(
                "the session has ended (logged out or password changed); log in again",
                field="authorization",
            )
        return Principal(user, claims)

    async def logout(
        self, principal: Principal | None, refresh_token: str | None, *, everywhere: bool
    ) -> None:
        now = self.s.clock()
        async with self.s.sessionmaker() as session:
            families: set[uuid.UUID] = set()
            user_id = principal.user_id if principal else None
            if principal is not None:
                families.add(principal.claims.session_id)
            if refresh_token is not None:
                row = await session.scalar(
                    select(RefreshToken).where(
                        RefreshToken.token_hash == security.digest(refresh_token)
                    )
                )
                if row is not None and (user_id is None or row.user_id == user_id):
                    families.add(row.family_id)
                    user_id = row.user_id
            if user_id is None:
                if refresh_token is None:
                    raise Unauthorized(
                        "send the access token or the refresh token of the session to end",
                        field="authorization",
                    )
                return  # an unknown refresh token: nothing to end
            if everywhere:
                await self._revoke_user(session, user_id, now)
            for family in families:
                await self._revoke_family(session, family, now)
            audit(session, now, "logout.all" if everywhere else "logout", user_id=user_id)
            await session.commit()

    async def change_password(
        self, principal: Principal, current: str, new: str, *, ip: str
    ) -> None:
        """Set a new password; every other session of the account ends."""
        await enforce(self.s.limiter, self.s.limits.login_email, principal.user.email)
        ok, _ = await self.s.passwords.verify(principal.user.password_hash, current)
        if not ok:
            raise Unauthorized("the current password is wrong", field="current_password")
        new_hash = await self.s.passwords.hash(new)
        now = self.s.clock()
        async with self.s.sessionmaker() as session:
            await session.execute(
                update(User)
                .where(User.id == principal.user_id)
                .values(password_hash=new_hash, password_changed_at=now)
            )
            await self._revoke_user(
                session, principal.user_id, now, keep=principal.claims.session_id
            )
            audit(session, now, "password.changed", user_id=principal.user_id, ip=ip)
            await session.commit()

    # -- helpers ----------------------------------------------------------------------------

    def _start_session(self, session: AsyncSession, user_id: uuid.UUID, now: datetime) -> TokenPair:
        return self._issue(session, user_id, uuid.uuid4(), now, token_id=uuid.uuid4())

    def _issue(
        self,
        session: AsyncSession,
        user_id: uuid.UUID,
        family_id: uuid.UUID,
        now: datetime,
        *,
        token_id: uuid.UUID,
    ) -> TokenPair:
        refresh, refresh_hash = security.new_refresh_token()
        session.add(
            RefreshToken(
                id=token_id,
                user_id=user_id,
                family_id=family_id,
                token_hash=refresh_hash,
                created_at=now,
                expires_at=security.expires(now, self.s.config.refresh_token_ttl_s),
            )
        )
        access, _ = security.issue_access_token(
            self.s.secret,
            user_id=user_id,
            session_id=family_id,
            now=now,
            ttl_s=self.s.config.access_token_ttl_s,
        )
        return TokenPair(
            access_token=access,
            refresh_token=refresh,
            expires_in=self.s.config.access_token_ttl_s,
        )

    @staticmethod
    async def _revoke_family(session: AsyncSession, family_id: uuid.UUID, now: datetime) -> None:
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )

    @staticmethod
    async def _revoke_user(
        session: AsyncSession, user_id: uuid.UUID, now: datetime, *, keep: uuid.UUID | None = None
    ) -> None:
        query = update(RefreshToken).where(
            RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None)
        )
        if keep is not None:
            query = query.where(RefreshToken.family_id != keep)
        await session.execute(query.values(revoked_at=now))
