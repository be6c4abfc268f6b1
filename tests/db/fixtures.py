"""Database fixtures shared by ``tests/db`` and ``tests/chat``: every test that takes
``engine`` (or ``sessions``) runs once on SQLite and once on PostgreSQL.

SQLite is a fresh file in ``tmp_path``. PostgreSQL is the server of
``WIRECHAT_TEST_POSTGRES_URL`` (default ``postgresql+asyncpg://postgres@127.0.0.1:5432/test``):
each test run creates its own database on it, dropped at the end, and each test starts
from an empty ``public`` schema, so runs are repeatable and may run side by side. The
schema is always built by ``wirechat.db.migrate.upgrade``, which tests the migrations on
both databases. When PostgreSQL is unreachable its variants fail if ``CI`` is set (CI
must not silently lose coverage) and are skipped otherwise.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from wirechat.db.migrate import upgrade
from wirechat.db.session import SessionFactory, create_engine, session_factory

__all__ = ["database_url", "engine", "postgres_url", "sessions"]

POSTGRES_URL = os.environ.get(
    "WIRECHAT_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin(url: str, *statements: str) -> None:
    conn = await asyncpg.connect(_dsn(url), timeout=3)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a database private to this test run, created on the PostgreSQL server."""
    name = f"wirechat_test_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        asyncio.run(_admin(POSTGRES_URL, f'CREATE DATABASE "{name}"'))
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        reason = f"PostgreSQL is not usable at {POSTGRES_URL}: {exc!r}"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI is set, so PostgreSQL tests must run)", pytrace=False)
        pytest.skip(reason)
    yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_admin(POSTGRES_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty database (no tables yet) of the parametrized kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    # Requested lazily so that SQLite-only runs never touch PostgreSQL. This fixture is
    # synchronous because the session fixture runs its own event loop.
    url: str = request.getfixturevalue("postgres_url")
    asyncio.run(_admin(url, "DROP SCHEMA IF EXISTS public CASCADE", "CREATE SCHEMA public"))
    return url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a database migrated to head by ``upgrade()``."""
    await upgrade(database_url)
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> SessionFactory:
    """The session factory services take."""
    return session_factory(engine)
