"""Password hashing, JSON Web Tokens, refresh tokens and where a request carries its token.

Nothing here logs: tokens, passwords and the secret must never reach a log line
(docs/api.md "Logging").
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import argon2
import jwt
from argon2.exceptions import InvalidHashError, VerificationError

from wirechat.chat.errors import RateLimited

__all__ = [
    "SECRET_FILE_NAME",
    "PasswordHasher",
    "TokenClaims",
    "TokenService",
    "hash_refresh_token",
    "load_or_create_secret",
    "new_refresh_token",
    "token_from_request",
]

SECRET_FILE_NAME = "jwt_secret"


def _lower_priority() -> None:
    """Run this worker thread (and the lanes Argon2 starts from it) at the lowest CPU
    priority: hashing then takes the CPU the event loop leaves, never the reverse."""
    with contextlib.suppress(AttributeError, OSError):  # not on every platform
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


class PasswordHasher:
    """Argon2id hashing with the cost parameters passed in.

    The defaults are argon2-cffi's (RFC 9106 "low memory": 3 passes, 64 MiB, 4 lanes),
    about 50-100 ms per hash. From async code call :meth:`ahash`, :meth:`averify` and
    :meth:`averify_dummy`: they run in a worker thread, at most ``max_concurrent`` at
    once, with at most ``max_queued`` more waiting for a slot; a call beyond that is
    refused at once with :class:`RateLimited`, so a flood of logins cannot build a
    backlog of CPU work that every later caller waits behind. The worker threads run at
    the lowest CPU priority, so hashing cannot starve the event loop. Tests pass tiny
    costs.
    """

    def __init__(
        self,
        *,
        time_cost: int = 3,
        memory_cost: int = 65536,
        parallelism: int = 4,
        max_concurrent: int = 2,
        max_queued: int = 16,
    ) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism
        )
        self._dummy_hash: str | None = None
        self.max_queued = max_queued
        self._slots = asyncio.Semaphore(max_concurrent)
        self._waiting = 0
        self._executor = ThreadPoolExecutor(
            max_concurrent, thread_name_prefix="argon2", initializer=_lower_priority
        )

    def check_capacity(self) -> None:
        """Raise :class:`RateLimited` now if a hash would be refused: lets a caller skip
        the work before its hash (a database read) when the answer is known."""
        if self._waiting >= self.max_queued:
            raise RateLimited(retry_after=1.0)

    async def _offload(self, fn: Any, *args: str) -> Any:
        self.check_capacity()
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        finally:
            self._slots.release()

    async def ahash(self, password: str) -> str:
        """:meth:`hash` off the event loop. Raises RateLimited when all slots are busy."""
        result: str = await self._offload(self.hash, password)
        return result

    async def averify(self, hashed: str, password: str) -> bool:
        """:meth:`verify` off the event loop. Raises RateLimited when all slots are busy."""
        result: bool = await self._offload(self.verify, hashed, password)
        return result

    async def averify_dummy(self, password: str) -> bool:
        """:meth:`verify_dummy` off the event loop. Raises RateLimited like :meth:`averify`."""
        result: bool = await self._offload(self.verify_dummy, password)
        return result

    def hash(self, password: str) -> str:
        """Return an encoded Argon2id hash of ``password`` (with its own random salt)."""
        return self._hasher.hash(password)

    def verify(self, hashed: str, password: str) -> bool:
        """Return whether ``password`` matches ``hashed``; False for a malformed hash."""
        try:
            return self._hasher.verify(hashed, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, hashed: str) -> bool:
        """Return whether ``hashed`` was made with other parameters than this hasher's."""
        try:
            return self._hasher.check_needs_rehash(hashed)
        except InvalidHashError:
            return True

    def verify_dummy(self, password: str) -> bool:
        """Spend the time of one :meth:`verify` and return False.

        Login calls this for an unknown username so that the answer takes as long as for
        a wrong password and does not tell which usernames exist.
        """
        if self._dummy_hash is None:
            self._dummy_hash = self.hash(secrets.token_urlsafe(16))
        self.verify(self._dummy_hash, password)
        return False


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """The verified content of a token."""

    user_id: int
    session_id: int
    issued_at: datetime
    expires_at: datetime


class TokenService:
    """Issues and verifies the HS256 tokens of docs/api.md "Authentication".

    Claims: ``userId`` (int), ``sub`` (the same id as a string), ``sid`` (the session,
    docs/api.md "Sessions"), ``iat``, ``exp``. Verification pins the algorithm,
    so ``alg: none`` or a token signed with another algorithm is rejected, and requires
    every claim: a token without ``sid`` could never be revoked, so it is not accepted.
    """

    def __init__(self, secret: str, expires_in: timedelta, algorithm: str = "HS256") -> None:
        if not secret:
            raise ValueError("JWT secret must not be empty")
        if expires_in <= timedelta(0):
            raise ValueError("token lifetime must be positive")
        self._secret = secret
        self._expires_in = expires_in
        self._algorithm = algorithm

    def __repr__(self) -> str:
        # Keeps the secret out of tracebacks and debug logs.
        return f"TokenService(algorithm={self._algorithm!r}, expires_in={self._expires_in})"

    def issue(self, user_id: int, session_id: int, *, now: datetime | None = None) -> str:
        """Return a signed token of ``user_id``'s session ``session_id``, valid from ``now``
        (default: the clock) for the configured lifetime."""
        issued = (now or datetime.now(UTC)).replace(microsecond=0)
        claims: dict[str, Any] = {
            "userId": user_id,
            "sub": str(user_id),
            "sid": session_id,
            "iat": int(issued.timestamp()),
            "exp": int((issued + self._expires_in).timestamp()),
        }
        return jwt.encode(claims, self._secret, algorithm=self._algorithm)

    def verify(self, token: str) -> TokenClaims | None:
        """Return the claims of a valid token; None if it is malformed, forged or expired."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[self._algorithm],
                options={"require": ["exp", "iat", "sub", "sid"]},
            )
        except jwt.InvalidTokenError:
            return None
        user_id = claims.get("userId")
        session_id = claims["sid"]
        # bool is an int in Python; a token claiming userId: true is not ours.
        if type(user_id) is not int or claims["sub"] != str(user_id) or type(session_id) is not int:
            return None
        return TokenClaims(
            user_id=user_id,
            session_id=session_id,
            issued_at=datetime.fromtimestamp(claims["iat"], UTC),
            expires_at=datetime.fromtimestamp(claims["exp"], UTC),
        )


def new_refresh_token() -> str:
    """A fresh opaque refresh token: 256 random bits, URL-safe text."""
    return secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> str:
    """What is stored of a refresh token: its SHA-256, hex.

    A fast hash is right here, unlike for passwords: the token has 256 bits of
    entropy, so there is nothing to guess, and it is looked up on every refresh.
    """
    return hashlib.sha256(token.encode()).hexdigest()


def _bearer(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def token_from_request(
    headers: Mapping[str, str],
    query: Mapping[str, str],
    connection_params: Mapping[str, str | None] | None,
    *,
    websocket: bool,
) -> str | None:
    """Return the token a request carries, from the first source that has one.

    Order of docs/api.md "Authentication": the ``authorization: Bearer`` header (``headers``
    has lower-case keys); on a WebSocket upgrade, the ``?token=`` query parameter; then
    the tRPC ``connectionParams`` ``token`` (the first WebSocket message, or the
    ``connectionParams`` query parameter of an SSE subscription, already decoded).
    The token is only extracted here; verify it with :meth:`TokenService.verify`.
    """
    token = _bearer(headers.get("authorization"))
    if token:
        return token
    if websocket:
        token = query.get("token")
        if token:
            return token
    if connection_params is not None:
        token = connection_params.get("token")
        if isinstance(token, str) and token:
            return token
    return None


def load_or_create_secret(data_dir: Path) -> tuple[str, bool]:
    """Return ``(secret, created)`` from ``data_dir/jwt_secret``, creating it if absent.

    Used when ``JWT_SECRET`` is unset: the first start writes a random secret readable
    only by its owner (mode 0600) and returns ``created=True`` so the caller can log a
    warning (docs/api.md "Authentication"); later starts read it back, and tokens survive
    restarts.
    An existing file with looser permissions is tightened to 0600.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / SECRET_FILE_NAME
    if not path.exists():
        secret = secrets.token_urlsafe(48)
        # Written in full under a private name, then linked into place: link() fails if the
        # file exists, so of two processes starting together exactly one secret wins and
        # nobody ever reads a half-written file.
        tmp = data_dir / f".{SECRET_FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(secret + "\n")
            os.link(tmp, path)
            return secret, True
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    secret = path.read_text(encoding="utf-8").strip()
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)
    if not secret:
        raise ValueError(f"{path} is empty: delete it or set JWT_SECRET")
    return secret, False
