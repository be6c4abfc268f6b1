"""A SQLite driver for the async engine that runs in the event loop's own thread.

aiosqlite hands every statement, BEGIN and COMMIT to a worker thread and back;
for the sub-millisecond statements of a local SQLite file those round trips
cost several times the query itself (about 370 µs against 60 µs for a small
read transaction here). This dialect runs :mod:`sqlite3` directly instead, as
better-sqlite3 does for Node: a statement blocks the loop for its few
microseconds and nothing else.

Writers must not wait on SQLite's lock inside the loop, so in-process write
transactions take turns on an asyncio lock (see :func:`write_lock`) before
``BEGIN IMMEDIATE``; readers never wait under WAL. Several processes sharing one
SQLite file would wait on each other with the loop blocked (up to the busy
timeout): run several processes on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import pool
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.expression import ClauseElement as Executable
from sqlalchemy.util import await_only

__all__ = [
    "DRIVER",
    "Checkpointer",
    "DirectConnection",
    "InLoopSQLiteDialect",
    "open_direct",
    "start_checkpointer",
    "stored_time",
    "write_lock",
]

DRIVER = "sqlite+wirechat"
BUSY_TIMEOUT_MS = 5000


async def _nothing() -> None:
    return None


def _yield_to_adapter() -> None:
    # SQLAlchemy's async layer insists that each execution awaited something; this
    # completes at once, without giving the loop away mid-transaction.
    await_only(_nothing())


class _Cursor(sqlite3.Cursor):
    def execute(self, sql: str, parameters: Any = (), /) -> _Cursor:
        super().execute(sql, parameters)
        _yield_to_adapter()
        return self

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> _Cursor:
        super().executemany(sql, seq_of_parameters)
        _yield_to_adapter()
        return self

    async def _async_soft_close(self) -> None:
        return None


class _Connection(sqlite3.Connection):
    def cursor(self, factory: Any = _Cursor) -> Any:
        return super().cursor(factory)


class InLoopSQLiteDialect(SQLiteDialect_pysqlite):
    """``sqlite+wirechat://``: pysqlite, run in the loop, usable by the async engine."""

    driver = "wirechat"
    is_async = True
    supports_statement_cache = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.write_lock = asyncio.Lock()

    @classmethod
    def get_pool_class(cls, url: URL) -> type[pool.Pool]:
        return pool.AsyncAdaptedQueuePool

    def create_connect_args(self, url: URL) -> Any:
        args, kwargs = super().create_connect_args(url)
        kwargs["factory"] = _Connection
        # Connections are pooled and used from the loop's thread only, but the pool
        # may open one in a thread pool during shutdown cleanup.
        kwargs["check_same_thread"] = False
        return args, kwargs


class DirectConnection:
    """One SQLite connection used without SQLAlchemy, for the chat's hottest statements.

    Like better-sqlite3 in Node: a read, or a write transaction, runs to completion
    synchronously, so the one connection is never shared by two callers at once, and
    under WAL it sees every committed write. Callers hold the dialect's write lock
    around :meth:`transaction`, so its writers queue with the engine's writers instead
    of waiting on SQLite's lock inside the loop.

    Statements are SQLAlchemy Core objects compiled once for SQLite, so the SQL is
    written in one place. Rows come back as plain tuples without type processing (times
    as their stored text); datetime parameters are stored as SQLAlchemy stores them
    (see :func:`stored_time`). A constraint violation raises SQLAlchemy's
    :class:`~sqlalchemy.exc.IntegrityError`, as the engine would, so callers handle
    both paths alike.
    """

    def __init__(self, dialect: InLoopSQLiteDialect, database: str) -> None:
        self._dialect = dialect
        self._conn = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
        # The same settings as the engine's connections (see session.py).
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA wal_autocheckpoint=0")
        self._compiled: dict[int, _Compiled] = {}
        self.write_lock = dialect.write_lock
        """The lock every in-process writer of this database takes turns on."""

    def all(self, statement: Executable, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run ``statement``; its rows ([] for a statement returning none)."""
        entry = self._compiled.get(id(statement))
        if entry is None or entry.statement is not statement:
            entry = self._compiled[id(statement)] = _Compiled(statement, self._dialect)
        sql = entry.sql
        if entry.expanding:  # IN parameters: SQLAlchemy renders them
            values = entry.compiled.construct_params(params)
            args = [_stored(values[name]) for name in entry.order]
        else:
            fixed = entry.fixed
            args = [
                _stored(params[name]) if name in params else fixed[name] for name in entry.order
            ]
        try:
            return self._conn.execute(sql, args).fetchall()
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(sql, args, exc) from exc

    @contextlib.contextmanager
    def transaction(self) -> Iterator[DirectConnection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on an exception).

        Hold :attr:`write_lock` around it, and do not await inside it.
        """
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        try:
            self._conn.execute("COMMIT")
        except BaseException:
            # A COMMIT refused by a deferred constraint leaves the transaction open.
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[DirectConnection]:
        """A nested transaction inside :meth:`transaction`: an exception undoes only
        what ran inside it (``ROLLBACK TO``), and the outer transaction goes on."""
        self._conn.execute("SAVEPOINT part")
        try:
            yield self
        except BaseException:
            self._conn.execute("ROLLBACK TO part")
            self._conn.execute("RELEASE part")
            raise
        self._conn.execute("RELEASE part")

    def close(self) -> None:
        self._conn.close()


class _Compiled:
    """A statement compiled for SQLite once, with the order of its parameters.

    ``fixed`` holds the values the statement carries itself (the ``1`` of
    ``last_seq + 1``), so a call fills in its own parameters without SQLAlchemy's
    ``construct_params``, which rebuilds a dict of every parameter each time.
    """

    __slots__ = ("compiled", "expanding", "fixed", "order", "sql", "statement")

    def __init__(self, statement: Executable, dialect: InLoopSQLiteDialect) -> None:
        compiled: Any = statement.compile(dialect=dialect)
        self.statement = statement
        self.compiled = compiled
        self.sql: str = compiled.string
        self.order: tuple[str, ...] = tuple(getattr(compiled, "positiontup", None) or ())
        binds = [compiled.binds[name] for name in self.order]
        self.expanding = any(bind.expanding for bind in binds)
        self.fixed: dict[str, Any] = {
            name: _stored(bind.effective_value)
            for name, bind in zip(self.order, binds, strict=True)
            if not bind.required
        }


def _stored(value: Any) -> Any:
    return stored_time(value) if isinstance(value, datetime) else value


def stored_time(value: datetime) -> str:
    """A UTC time as SQLAlchemy's SQLite DateTime stores it (naive UTC, microseconds)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(sep=" ", timespec="microseconds")


class Checkpointer:
    """Copies the WAL back into the database from a background thread.

    SQLite's automatic checkpoint runs inside whichever commit crosses the threshold,
    which here means inside the event loop: a pause of milliseconds for every
    caller at that moment. The in-loop connections turn it off, and this thread
    checkpoints instead (PASSIVE: it never blocks writers; the sqlite3 module lets go
    of the GIL while SQLite works).
    """

    def __init__(self, database: str, interval: float = 1.0) -> None:
        self._database = database
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)

    def start(self) -> Checkpointer:
        self._thread.start()
        return self

    def _run(self) -> None:
        conn = sqlite3.connect(self._database, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        try:
            while not self._stop.wait(self._interval):
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            with contextlib.suppress(sqlite3.Error):
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def start_checkpointer(dialect: Any, database: str | None) -> Checkpointer | None:
    """A running :class:`Checkpointer` for in-loop SQLite on a file; None otherwise."""
    if not isinstance(dialect, InLoopSQLiteDialect) or not database or database == ":memory:":
        return None
    return Checkpointer(database).start()


def open_direct(dialect: Any, database: str | None) -> DirectConnection | None:
    """A new :class:`DirectConnection` to ``database``; None unless in-loop SQLite on a
    file (an in-memory database is private to each connection). Close it when done."""
    if not isinstance(dialect, InLoopSQLiteDialect) or not database or database == ":memory:":
        return None
    return DirectConnection(dialect, database)


def write_lock(dialect: Any) -> asyncio.Lock | None:
    """The lock in-process writers take turns on, for the in-loop SQLite dialect only."""
    lock = getattr(dialect, "write_lock", None)
    return lock if isinstance(lock, asyncio.Lock) else None


registry.register("sqlite.wirechat", __name__, "InLoopSQLiteDialect")
