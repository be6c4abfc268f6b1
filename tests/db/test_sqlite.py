"""The in-loop SQLite driver's direct connection, and the chat store that runs on it.

The direct connection runs Core statements compiled for SQLite without SQLAlchemy's
execution layer: these tests hold it to what the engine would do (stored forms of
times, IntegrityError, transactions) and check that writes on it queue with the
engine's writers on the one in-process write lock.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from wirechat.chat.errors import NotFound
from wirechat.chat.models import User
from wirechat.chat.store import SQLiteStore, SQLStore, open_store
from wirechat.chat.store.sqlite import run
from wirechat.chat.store.transactions import Program, Rows
from wirechat.db.migrate import upgrade
from wirechat.db.session import create_engine, session_factory, transaction
from wirechat.db.sqlite import (
    Checkpointer,
    DirectConnection,
    InLoopSQLiteDialect,
    open_direct,
    stored_time,
    write_lock,
)

INSERT_USER = insert(User).values(
    username=bindparam("name"),
    username_lower=bindparam("name"),
    display_name=bindparam("name"),
    password_hash="x",
    created_at=bindparam("at", type_=User.created_at.type),
)
USERS = select(User.id, User.username, User.created_at).order_by(User.id)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    url = f"sqlite:///{tmp_path / 'chat.db'}"
    await upgrade(url)
    engine = create_engine(url)
    yield engine
    await engine.dispose()


@pytest.fixture
def direct(engine: AsyncEngine) -> Iterator[DirectConnection]:
    conn = open_direct(engine.dialect, engine.url.database)
    assert conn is not None
    yield conn
    conn.close()


def test_stored_time_is_sqlalchemys_naive_utc_text() -> None:
    moment = datetime(2026, 1, 31, 13, 0, 0, 123000, tzinfo=timezone(timedelta(hours=1)))
    assert stored_time(moment) == "2026-01-31 12:00:00.123000"
    assert stored_time(moment.astimezone(UTC).replace(tzinfo=None)) == stored_time(moment)


async def test_a_direct_write_reads_back_through_the_engine_exactly(
    engine: AsyncEngine, direct: DirectConnection
) -> None:
    at = datetime(2026, 1, 31, 12, 0, 0, 123000, tzinfo=UTC)
    with direct.transaction():
        assert direct.all(INSERT_USER, {"name": "alice", "at": at}) == []
    ((uid, name, raw),) = direct.all(USERS, {})
    assert (name, raw) == ("alice", "2026-01-31 12:00:00.123000")  # raw: no type processing
    async with transaction(session_factory(engine)) as session:
        user = await session.get(User, uid)
    assert user is not None
    assert user.created_at == at


async def test_a_failed_transaction_rolls_back_and_raises_sqlalchemys_integrity_error(
    direct: DirectConnection,
) -> None:
    at = datetime.now(UTC)
    with pytest.raises(IntegrityError) as caught, direct.transaction():
        direct.all(INSERT_USER, {"name": "bob", "at": at})
        direct.all(INSERT_USER, {"name": "bob", "at": at})  # username_lower is unique
    assert isinstance(caught.value.orig, sqlite3.IntegrityError)
    assert direct.all(USERS, {}) == []
    with pytest.raises(RuntimeError), direct.transaction():
        direct.all(INSERT_USER, {"name": "carol", "at": at})
        raise RuntimeError("rolled back")
    assert direct.all(USERS, {}) == []


def test_only_in_loop_sqlite_on_a_file_gets_a_direct_connection(tmp_path: Path) -> None:
    file = create_engine(f"sqlite:///{tmp_path / 'a.db'}")
    memory = create_engine("sqlite://")
    aiosqlite = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'b.db'}")
    postgres = create_engine("postgresql://nobody@127.0.0.1:1/none")
    assert isinstance(file.dialect, InLoopSQLiteDialect)
    conn = open_direct(file.dialect, file.url.database)
    assert conn is not None
    assert conn.write_lock is write_lock(file.dialect)
    conn.close()
    for other in (memory, aiosqlite, postgres):
        assert open_direct(other.dialect, other.url.database) is None
    assert isinstance(open_store(memory), SQLStore)
    assert isinstance(open_store(postgres), SQLStore)


async def test_the_store_on_sqlite_is_the_direct_one(engine: AsyncEngine) -> None:
    store = open_store(engine)
    assert isinstance(store, SQLiteStore)
    await store.aclose()


def _two_reads() -> Program[list[Rows]]:
    first = yield USERS, {}
    second = yield USERS, {}
    return [first, second]


def test_run_sends_each_statements_rows_back_and_returns_the_result(
    direct: DirectConnection,
) -> None:
    with direct.transaction():
        direct.all(INSERT_USER, {"name": "dave", "at": datetime.now(UTC)})
    first, second = run(direct, _two_reads())
    assert first == second
    assert [row[1] for row in first] == ["dave"]


async def test_store_writes_queue_on_the_engines_write_lock(engine: AsyncEngine) -> None:
    """A write on the direct connection waits while an engine writer holds the lock."""
    store = open_store(engine)
    lock = write_lock(engine.dialect)
    assert lock is not None
    try:
        async with lock:
            pending = asyncio.ensure_future(store.last_seq(1))  # a read: does not wait
            with pytest.raises(NotFound):
                await asyncio.wait_for(pending, 5)
            write = asyncio.ensure_future(store.send(room_id=1, author_id=1, text="x"))
            await asyncio.sleep(0.05)
            assert not write.done()
        with pytest.raises(NotFound):  # runs once the lock is free
            await asyncio.wait_for(write, 5)
    finally:
        await store.aclose()


def test_the_checkpointer_copies_the_wal_back_and_stops(tmp_path: Path) -> None:
    database = str(tmp_path / "wal.db")
    conn = sqlite3.connect(database, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("CREATE TABLE t (x)")
    conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(1000)])
    wal = Path(database + "-wal")
    assert wal.stat().st_size > 0
    checkpointer = Checkpointer(database, interval=0.01).start()
    checkpointer.stop()  # the final checkpoint truncates the WAL
    assert wal.stat().st_size == 0
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (1000,)
    conn.close()
