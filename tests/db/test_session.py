"""Engine construction, SQLite connection settings and transaction helpers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from wirechat.db.session import (
    SessionFactory,
    create_engine,
    default_sqlite_url,
    normalize_url,
    retry_on_conflict,
    session_factory,
    transaction,
)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@h:5432/db", "postgresql+asyncpg://u:p@h:5432/db"),
        ("postgresql://u:p@h/db", "postgresql+asyncpg://u:p@h/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql://u@h/db?sslmode=require", "postgresql+asyncpg://u@h/db?ssl=require"),
        ("sqlite:///data/x.db", "sqlite+wirechat:///data/x.db"),
        ("sqlite+aiosqlite:////abs/x.db", "sqlite+aiosqlite:////abs/x.db"),
    ],
)
def test_normalize_url_rewrites_to_async_drivers(given: str, expected: str) -> None:
    assert normalize_url(given).render_as_string(hide_password=False) == expected


def test_normalize_url_rejects_unknown_scheme_naming_the_setting() -> None:
    with pytest.raises(ValueError, match="DATABASE_URL"):
        normalize_url("mysql://u@h/db")


def test_default_sqlite_url_is_an_absolute_file_in_data_dir(tmp_path: Path) -> None:
    url = default_sqlite_url(tmp_path)
    assert url == f"sqlite:///{tmp_path.resolve() / 'wirechat.db'}"


async def test_sqlite_connections_get_wal_foreign_keys_busy_timeout_and_normal_sync(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        async with engine.connect() as conn:
            pragma = {
                name: (await conn.execute(text(f"PRAGMA {name}"))).scalar()
                for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
            }
    finally:
        await engine.dispose()
    # synchronous: 1 is NORMAL.
    assert pragma == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "busy_timeout": 5000,
        "synchronous": 1,
    }


async def test_transaction_commits_on_exit_and_rolls_back_on_error(
    engine: AsyncEngine, sessions: SessionFactory
) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (x INTEGER PRIMARY KEY)"))
    async with transaction(sessions, write=True) as session:
        await session.execute(text("INSERT INTO t VALUES (1)"))
    with pytest.raises(RuntimeError):
        async with transaction(sessions, write=True) as session:
            await session.execute(text("INSERT INTO t VALUES (2)"))
            raise RuntimeError
    async with transaction(sessions) as session:
        assert (await session.execute(text("SELECT x FROM t"))).scalars().all() == [1]


async def test_write_transactions_on_sqlite_wait_for_each_other_instead_of_failing(
    tmp_path: Path,
) -> None:
    # Each writer reads, yields to the others, then writes: with a deferred BEGIN on
    # SQLite the late writers would fail with "database is locked" (SQLITE_BUSY_SNAPSHOT).
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    sessions = session_factory(engine)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
        await conn.execute(text("INSERT INTO counter VALUES (0)"))

    async def increment() -> None:
        async with transaction(sessions, write=True) as session:
            n = (await session.execute(text("SELECT n FROM counter"))).scalar_one()
            await asyncio.sleep(0.005)
            await session.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})

    try:
        await asyncio.gather(*(increment() for _ in range(10)))
        async with transaction(sessions) as session:
            assert (await session.execute(text("SELECT n FROM counter"))).scalar_one() == 10
    finally:
        await engine.dispose()


async def test_retry_on_conflict_retries_integrity_errors_then_gives_up() -> None:
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise IntegrityError("INSERT", {}, Exception("duplicate"))
        return "done"

    assert await retry_on_conflict(flaky) == "done"
    assert calls == 3

    calls = -10
    with pytest.raises(IntegrityError):
        await retry_on_conflict(flaky, attempts=2)


async def test_sqlite_file_directory_is_created(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'new' / 'dir' / 'x.db'}")
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    finally:
        await engine.dispose()
    assert (tmp_path / "new" / "dir" / "x.db").exists()


async def test_engines_never_put_bound_parameters_in_error_messages(tmp_path: Path) -> None:
    """Issue 11: a logged database error must not carry message texts or hashes."""
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with pytest.raises(Exception) as info:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT * FROM missing WHERE x = :x"), {"x": "secret-text"})
        assert "secret-text" not in str(info.value)
        assert "hidden due to hide_parameters" in str(info.value)
    finally:
        await engine.dispose()
