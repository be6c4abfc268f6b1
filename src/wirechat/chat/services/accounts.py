"""Accounts: register, log in, change the password, look up users (``auth.*``,
``users.get``). Every sign-in starts a session (:mod:`.sessions`)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from wirechat.chat import models, schemas
from wirechat.chat.auth import PasswordHasher, TokenService
from wirechat.chat.errors import Conflict, Forbidden, InvalidCredentials, NotFound
from wirechat.chat.services import sessions as signins
from wirechat.chat.services.outputs import user_out
from wirechat.db.session import SessionFactory, transaction

__all__ = [
    "DEFAULT_REFRESH_EXPIRES_IN",
    "change_password",
    "get_user",
    "login",
    "register",
    "signed_in",
]

_TAKEN = "username is already taken"

DEFAULT_REFRESH_EXPIRES_IN = timedelta(days=30)
"""``REFRESH_EXPIRES_IN``'s default (docs/api.md "Sessions")."""


async def signed_in(
    sessions: SessionFactory,
    tokens: TokenService,
    user: schemas.User,
    refresh_expires_in: timedelta,
) -> schemas.AuthResult:
    """Start a session of ``user``: its access token and first refresh token."""
    grant = await signins.start(sessions, user.id, refresh_expires_in)
    return schemas.AuthResult(
        token=tokens.issue(user.id, grant.session_id),
        refresh_token=grant.refresh_token,
        user=user,
    )


async def register(
    sessions: SessionFactory,
    hasher: PasswordHasher,
    tokens: TokenService,
    *,
    username: str,
    password: str,
    display_name: str | None = None,
    refresh_expires_in: timedelta = DEFAULT_REFRESH_EXPIRES_IN,
) -> schemas.AuthResult:
    """Create an account and sign it in (``auth.register``).

    ``display_name`` defaults to ``username``. Hashing runs in a worker thread.

    Raises:
        Conflict: the username is taken, ignoring case.
        RateLimited: too many password hashes are running already.
    """
    lower = username.lower()
    # Checked before hashing so a taken name costs no Argon2 time; the unique index
    # below still settles a race between two registrations.
    async with transaction(sessions) as session:
        if await session.scalar(select(models.User.id).where(models.User.username_lower == lower)):
            raise Conflict(_TAKEN)
    password_hash = await hasher.ahash(password)
    user = models.User(
        username=username,
        username_lower=lower,
        display_name=display_name or username,
        password_hash=password_hash,
        created_at=models.utc_now(),
    )
    try:
        async with transaction(sessions, write=True) as session:
            session.add(user)
    except IntegrityError as exc:
        raise Conflict(_TAKEN) from exc
    return await signed_in(sessions, tokens, user_out(user), refresh_expires_in)


async def login(
    sessions: SessionFactory,
    hasher: PasswordHasher,
    tokens: TokenService,
    *,
    username: str,
    password: str,
    refresh_expires_in: timedelta = DEFAULT_REFRESH_EXPIRES_IN,
) -> schemas.AuthResult:
    """Check a username (any case) and password and start a session (``auth.login``).

    An unknown username costs one dummy verification, so timing does not reveal which
    usernames exist. A hash made with older cost parameters is upgraded on success.

    Raises:
        InvalidCredentials: unknown username or wrong password.
        RateLimited: too many password hashes are running already.
    """
    async with transaction(sessions) as session:
        user = await session.scalar(
            select(models.User).where(models.User.username_lower == username.lower())
        )
    if user is None:
        await hasher.averify_dummy(password)
        raise InvalidCredentials()
    if not await hasher.averify(user.password_hash, password):
        raise InvalidCredentials()
    if hasher.needs_rehash(user.password_hash):
        new_hash = await hasher.ahash(password)
        async with transaction(sessions, write=True) as session:
            await session.execute(
                update(models.User).where(models.User.id == user.id).values(password_hash=new_hash)
            )
    return await signed_in(sessions, tokens, user_out(user), refresh_expires_in)


async def change_password(
    sessions: SessionFactory,
    hasher: PasswordHasher,
    tokens: TokenService,
    *,
    user_id: int,
    current_password: str,
    new_password: str,
    refresh_expires_in: timedelta = DEFAULT_REFRESH_EXPIRES_IN,
) -> tuple[schemas.AuthResult, list[int]]:
    """Set a new password, end every session of the user and start a new one
    (``auth.changePassword``). Returns the new session's pair and the ended session ids,
    which the caller must announce (:meth:`SessionGuard.revoke`).

    Raises:
        Forbidden: ``current_password`` is wrong.
        NotFound: no such user.
    """
    async with transaction(sessions) as session:
        user = await session.get(models.User, user_id)
    if user is None:
        raise NotFound("user")
    if not await hasher.averify(user.password_hash, current_password):
        raise Forbidden("the current password is wrong")
    new_hash = await hasher.ahash(new_password)
    # One transaction: a new password never leaves the old sessions standing.
    async with transaction(sessions, write=True) as session:
        await session.execute(
            update(models.User).where(models.User.id == user_id).values(password_hash=new_hash)
        )
        ended = await signins.end_all_in(session, user_id)
    return await signed_in(sessions, tokens, user_out(user), refresh_expires_in), ended


async def get_user(sessions: SessionFactory, user_id: int) -> schemas.User:
    """Return a user (``users.get``, ``auth.me``).

    Raises:
        NotFound: no such user.
    """
    async with transaction(sessions) as session:
        user = await session.get(models.User, user_id)
    if user is None:
        raise NotFound("user")
    return user_out(user)
