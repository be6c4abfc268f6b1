"""Fixtures for the chat tests: databases on SQLite and PostgreSQL (``tests/db/fixtures.py``),
cheap Argon2, a token service, and a way to make users and rooms."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from chat.factories import MakeRoom, MakeUser
from db.fixtures import database_url, engine, postgres_url, sessions
from wirechat.chat import schemas
from wirechat.chat.auth import PasswordHasher, TokenService
from wirechat.chat.services import accounts, rooms
from wirechat.chat.store import ChatStore, open_store
from wirechat.db.session import SessionFactory

__all__ = [
    "database_url",
    "engine",
    "hasher",
    "make_room",
    "make_user",
    "postgres_url",
    "sessions",
    "store",
    "tokens",
]

SECRET = "test-secret-0123456789abcdef0123456789abcdef"


@pytest.fixture
def hasher() -> PasswordHasher:
    """Argon2 at the smallest costs it accepts: correct, and fast enough for tests."""
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture
def tokens() -> TokenService:
    return TokenService(SECRET, timedelta(hours=1))


@pytest.fixture
def make_user(sessions: SessionFactory, hasher: PasswordHasher, tokens: TokenService) -> MakeUser:
    """Register a user: ``await make_user("alice")``."""

    async def make(username: str, password: str = "password123") -> schemas.User:
        result = await accounts.register(
            sessions, hasher, tokens, username=username, password=password
        )
        return result.user

    return make


@pytest.fixture
def make_room(sessions: SessionFactory) -> MakeRoom:
    """Create a room owned by a user: ``await make_room(owner, "general")``."""

    async def make(
        owner: schemas.User,
        name: str = "general",
        *,
        is_private: bool = False,
        members: Iterable[schemas.User] = (),
    ) -> schemas.Room:
        return await rooms.create(
            sessions,
            owner_id=owner.id,
            name=name,
            is_private=is_private,
            member_ids=[m.id for m in members],
        )

    return make


@pytest.fixture
async def store(engine: AsyncEngine) -> AsyncIterator[ChatStore]:
    """The chat store assembly picks for ``engine``: the direct connection on SQLite, SQL
    on PostgreSQL."""
    opened = open_store(engine)
    yield opened
    await opened.aclose()
