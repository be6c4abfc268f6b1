"""Sign-in sessions: start one, rotate its refresh token, end it (docs/api.md "Sessions").

A session is what an access token's ``sid`` names. Its refresh tokens are stored as
SHA-256 hashes, one row per token ever issued: a refresh marks the presented row
rotated and adds the next one, so a second use of any rotated token is recognised
(the token was copied) and ends the session. Ending sessions here only writes the
database; telling every process (and the open connections) is the caller's job,
through :class:`~wirechat.chat.guard.SessionGuard`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wirechat.chat.auth import hash_refresh_token, new_refresh_token
from wirechat.chat.errors import Forbidden, RefreshReused, SessionRefused
from wirechat.chat.models import AuthSession, RefreshToken, utc_now
from wirechat.db.session import SessionFactory, transaction

__all__ = ["Grant", "end", "end_all", "end_all_in", "ended_among", "is_live", "rotate", "start"]

_REFUSED = "refresh token is unknown, expired or already used"


@dataclass(frozen=True, slots=True)
class Grant:
    """A session and the refresh token just issued for it (shown to the client once)."""

    session_id: int
    user_id: int
    refresh_token: str


async def start(sessions: SessionFactory, user_id: int, lifetime: timedelta) -> Grant:
    """Start a session of ``user_id`` whose first refresh token lasts ``lifetime``."""
    token = new_refresh_token()
    now = utc_now()
    async with transaction(sessions, write=True) as session:
        row = AuthSession(user_id=user_id, created_at=now, expires_at=now + lifetime)
        session.add(row)
        await session.flush()
        session.add(
            RefreshToken(
                token_hash=hash_refresh_token(token),
                session_id=row.id,
                created_at=now,
                expires_at=now + lifetime,
            )
        )
    return Grant(row.id, user_id, token)


async def rotate(
    sessions: SessionFactory,
    refresh_token: str,
    lifetime: timedelta,
    *,
    expected_user: int | None = None,
) -> Grant:
    """Trade a refresh token for the next one of the same session (``auth.refresh``).

    ``expected_user``: the user the caller's connection belongs to; a token of another
    user is refused before anything changes.

    Raises:
        SessionRefused: the token is unknown or expired, or its session has ended.
        RefreshReused: the token had been rotated already; its session is now ended.
        Forbidden: the token belongs to another user than ``expected_user``.
    """
    digest = hash_refresh_token(refresh_token)
    now = utc_now()
    reused: int | None = None
    async with transaction(sessions, write=True) as session:
        row = (
            await session.execute(
                select(RefreshToken, AuthSession)
                .join(AuthSession, AuthSession.id == RefreshToken.session_id)
                .where(RefreshToken.token_hash == digest)
            )
        ).one_or_none()
        if row is None:
            raise SessionRefused(_REFUSED)
        token, auth = row
        if auth.ended_at is not None or token.expires_at <= now:
            raise SessionRefused(_REFUSED)
        if expected_user is not None and auth.user_id != expected_user:
            raise Forbidden("this refresh token belongs to another user")
        # Conditional, so that of two refreshes racing with one token exactly one wins
        # and the other counts as a reuse.
        claimed = await session.execute(
            update(RefreshToken)
            .where(RefreshToken.token_hash == digest, RefreshToken.rotated_at.is_(None))
            .values(rotated_at=now)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            await session.execute(
                update(AuthSession).where(AuthSession.id == auth.id).values(ended_at=now)
            )
            reused = auth.id
        else:
            fresh = new_refresh_token()
            session.add(
                RefreshToken(
                    token_hash=hash_refresh_token(fresh),
                    session_id=auth.id,
                    created_at=now,
                    expires_at=now + lifetime,
                )
            )
            await session.execute(
                update(AuthSession)
                .where(AuthSession.id == auth.id)
                .values(expires_at=now + lifetime)
            )
            # Rotated tokens are only needed to recognise a reuse until they expire.
            await session.execute(
                delete(RefreshToken).where(
                    RefreshToken.session_id == auth.id,
                    RefreshToken.rotated_at.is_not(None),
                    RefreshToken.expires_at <= now,
                )
            )
    if reused is not None:
        raise RefreshReused(reused)
    return Grant(auth.id, auth.user_id, fresh)


async def end(sessions: SessionFactory, session_id: int) -> list[int]:
    """End one session (``auth.logout``); returns ``[session_id]``, or ``[]`` if it had
    ended already."""
    async with transaction(sessions, write=True) as session:
        result = await session.execute(
            update(AuthSession)
            .where(AuthSession.id == session_id, AuthSession.ended_at.is_(None))
            .values(ended_at=utc_now())
        )
    return [session_id] if result.rowcount == 1 else []  # type: ignore[attr-defined]


async def end_all(sessions: SessionFactory, user_id: int) -> list[int]:
    """End every live session of ``user_id`` (``auth.logoutAll``); returns the ids of the
    sessions ended."""
    async with transaction(sessions, write=True) as session:
        return await end_all_in(session, user_id)


async def end_all_in(session: AsyncSession, user_id: int) -> list[int]:
    """:func:`end_all` inside the caller's (write) transaction."""
    ids = list(
        await session.scalars(
            select(AuthSession.id).where(
                AuthSession.user_id == user_id, AuthSession.ended_at.is_(None)
            )
        )
    )
    if ids:
        await session.execute(
            update(AuthSession).where(AuthSession.id.in_(ids)).values(ended_at=utc_now())
        )
    return ids


async def is_live(sessions: SessionFactory, session_id: int) -> bool:
    """Whether the session exists and has not ended (its access tokens are accepted)."""
    async with transaction(sessions) as session:
        ended = await session.execute(
            select(AuthSession.ended_at).where(AuthSession.id == session_id)
        )
        row = ended.one_or_none()
    return row is not None and row[0] is None


async def ended_among(sessions: SessionFactory, session_ids: list[int]) -> list[int]:
    """Those of ``session_ids`` that have ended or do not exist."""
    if not session_ids:
        return []
    async with transaction(sessions) as session:
        live = set(
            await session.scalars(
                select(AuthSession.id).where(
                    AuthSession.id.in_(session_ids), AuthSession.ended_at.is_(None)
                )
            )
        )
    return [i for i in session_ids if i not in live]
