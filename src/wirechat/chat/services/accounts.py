"""Accounts: register, log in, look up users (``auth.*``, ``users.get``)."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from wirechat.chat import models, schemas
from wirechat.chat.auth import PasswordHasher, TokenService
from wirechat.chat.errors import Conflict, InvalidCredentials, NotFound
from wirechat.chat.services.outputs import user_out
from wirechat.db.session import SessionFactory, transaction

__all__ = ["get_user", "login", "register"]

_TAKEN = "username is already taken"


async def register(
    sessions: SessionFactory,
    hasher: PasswordHasher,
    tokens: TokenService,
    *,
    username: str,
    password: str,
    display_name: str | None = None,
) -> schemas.AuthResult:
    """Create an account and return a token for it (``auth.register``).

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
    return schemas.AuthResult(token=tokens.issue(user.id), user=user_out(user))


async def login(
    sessions: SessionFactory,
    hasher: PasswordHasher,
    tokens: TokenService,
    *,
    username: str,
    password: str,
) -> schemas.AuthResult:
    """Check a username (any case) and password and return a token (``auth.login``).

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
    return schemas.AuthResult(token=tokens.issue(user.id), user=user_out(user))


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
