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
from sqlalchemy import bindparam, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from wirechat.chat.errors import NotFound
from wirechat.chat.models import RoomMember, User
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


def _add_user(name: str, *, then: BaseException | None = None) -> Program[str]:
    yield INSERT_USER, {"name": name, "at": datetime.now(UTC)}
    if then is not None:
        raise then
    return name


_ORPHAN_MEMBER = insert(RoomMember).values(
    room_id=404, user_id=404, joined_at=bindparam("at", type_=RoomMember.joined_at.type)
)


def _add_orphan_member_checked_at_commit() -> Program[None]:
    yield text("PRAGMA defer_foreign_keys = ON"), {}
    yield _ORPHAN_MEMBER, {"at": datetime.now(UTC)}


def _names(direct: DirectConnection) -> list[str]:
    return [row[1] for row in direct.all(USERS, {})]


@pytest.fixture
def statements(direct: DirectConnection) -> Iterator[list[str]]:
    seen: list[str] = []
    direct._conn.set_trace_callback(seen.append)  # the sqlite3 connection underneath
    yield seen
    direct._conn.set_trace_callback(None)


async def test_writes_queued_in_one_turn_share_one_transaction_and_commit(
    engine: AsyncEngine, direct: DirectConnection, statements: list[str]
) -> None:
    """Group commit: one BEGIN and one COMMIT for the writes that arrived together,
    each caller answered only once they are committed."""
    store = SQLiteStore(direct)
    database = engine.url.database
    assert database is not None

    async def write_then_look(name: str) -> list[str]:
        await store._write(_add_user(name))
        other = sqlite3.connect(database)  # another connection sees only committed rows
        try:
            return [row[0] for row in other.execute("SELECT username FROM users")]
        finally:
            other.close()

    seen = await asyncio.gather(*(write_then_look(n) for n in ("ann", "ben", "cat")))
    assert seen == [["ann", "ben", "cat"]] * 3
    assert statements.count("BEGIN IMMEDIATE") == 1
    assert statements.count("COMMIT") == 1
    assert statements.count("SAVEPOINT part") == 3
    statements.clear()
    assert await store._write(_add_user("dan")) == "dan"  # alone: no savepoint
    assert statements.count("BEGIN IMMEDIATE") == statements.count("COMMIT") == 1
    assert "SAVEPOINT part" not in statements


async def test_a_write_that_fails_in_a_group_is_undone_alone(direct: DirectConnection) -> None:
    store = SQLiteStore(direct)
    results = await asyncio.gather(
        store._write(_add_user("eve")),
        store._write(_add_user("fay", then=RuntimeError("after writing"))),
        store._write(_add_user("eve")),  # the unique username: IntegrityError
        store._write(_add_user("gus")),
        return_exceptions=True,
    )
    assert results[0] == "eve" and results[3] == "gus"
    assert isinstance(results[1], RuntimeError)
    assert isinstance(results[2], IntegrityError)
    assert _names(direct) == ["eve", "gus"]


async def test_a_failed_commit_fails_every_write_of_its_group(direct: DirectConnection) -> None:
    store = SQLiteStore(direct)
    results = await asyncio.gather(
        store._write(_add_user("hal")),
        store._write(_add_orphan_member_checked_at_commit()),
        return_exceptions=True,
    )
    assert all(isinstance(r, sqlite3.IntegrityError) for r in results), results
    assert _names(direct) == []
    assert await store._write(_add_user("ida")) == "ida"  # the connection is usable
    assert _names(direct) == ["ida"]


async def test_a_write_cancelled_before_its_group_runs_is_not_stored(
    direct: DirectConnection,
) -> None:
    store = SQLiteStore(direct)
    first = asyncio.ensure_future(store._write(_add_user("jon")))
    second = asyncio.ensure_future(store._write(_add_user("kim")))
    await asyncio.sleep(0)  # both are queued; the group runs in the next turn
    first.cancel()
    assert await second == "kim"
    assert first.cancelled()
    assert _names(direct) == ["kim"]


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


async def test_closing_the_store_commits_the_writes_queued_before(
    engine: AsyncEngine, direct: DirectConnection
) -> None:
    store = SQLiteStore(direct)
    write = asyncio.ensure_future(store._write(_add_user("lea")))
    await asyncio.sleep(0)  # queued; its group would run in the next turn
    await store.aclose()
    assert await write == "lea"
    database = engine.url.database
    assert database is not None
    other = sqlite3.connect(database)
    try:
        assert [row[0] for row in other.execute("SELECT username FROM users")] == ["lea"]
    finally:
        other.close()
