"""Async engine and session factory built from a database URL.

Two backends are supported: SQLite (the default, one file in the data directory), run
in the event loop's thread by :mod:`wirechat.db.sqlite` (``sqlite+aiosqlite://`` still
selects aiosqlite), and PostgreSQL through asyncpg. Callers build one engine at startup with
:func:`create_engine`, one :func:`session_factory` from it, and open every unit of work with
:func:`transaction`; nothing here is created at import time.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine

from wirechat.db.sqlite import BUSY_TIMEOUT_MS, InLoopSQLiteDialect, write_lock
from wirechat.db.sqlite import DRIVER as SQLITE_DRIVER

__all__ = [
    "SQLITE_BUSY_TIMEOUT_MS",
    "WRITE_OPTION",
    "SessionFactory",
    "create_engine",
    "default_sqlite_url",
    "normalize_url",
    "retry_on_conflict",
    "session_factory",
    "transaction",
]

SessionFactory = async_sessionmaker[AsyncSession]
"""What services receive: call it to open a session, or pass it to :func:`transaction`."""

SQLITE_BUSY_TIMEOUT_MS = BUSY_TIMEOUT_MS
"""How long a SQLite writer waits for the file lock before failing with "database is locked"."""

WRITE_OPTION = "wirechat_write"
"""Connection execution option marking a transaction that will write (see :func:`transaction`)."""

# PostgreSQL URLs as found in the wild (Heroku, libpq docs) name no driver; we only ship asyncpg.
_POSTGRES_SCHEMES = {"postgres", "postgresql", "postgresql+asyncpg"}
_SQLITE_SCHEMES = {"sqlite", SQLITE_DRIVER}

T = TypeVar("T")


def normalize_url(url: str) -> URL:
    """Return ``url`` rewritten for the async driver this package uses.

    ``postgres://`` and ``postgresql://`` become ``postgresql+asyncpg://`` (libpq's
    ``sslmode`` becomes asyncpg's ``ssl``); ``sqlite://`` becomes ``sqlite+wirechat://`` (the
    in-loop driver); ``sqlite+aiosqlite://`` is kept as asked.

    Raises:
        ValueError: for any other scheme; the message names the ``DATABASE_URL`` setting.
    """
    parsed = make_url(url)
    scheme = parsed.drivername
    if scheme in _POSTGRES_SCHEMES:
        parsed = parsed.set(drivername="postgresql+asyncpg")
        if "sslmode" in parsed.query:
            # asyncpg.connect() has no sslmode argument; it spells the same values "ssl".
            query = dict(parsed.query)
            query.setdefault("ssl", query.pop("sslmode"))
            parsed = parsed.set(query=query)
        return parsed
    if scheme in _SQLITE_SCHEMES:
        return parsed.set(drivername=SQLITE_DRIVER)
    if scheme == "sqlite+aiosqlite":
        return parsed
    raise ValueError(
        f"unsupported database URL scheme {scheme!r} in DATABASE_URL: "
        "use sqlite:///path/to/file.db or postgresql://user:password@host/db"
    )


def default_sqlite_url(data_dir: Path) -> str:
    """Return the URL of the SQLite file used when ``DATABASE_URL`` is unset."""
    return f"sqlite:///{(data_dir / 'wirechat.db').resolve()}"


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """Build the async engine for ``url`` (see :func:`normalize_url` for accepted forms).

    For a SQLite file, its directory is created if missing. SQLite connections get WAL
    journaling (readers never block the writer), ``foreign_keys=ON``, a busy timeout and
    ``synchronous=NORMAL`` (durable under WAL except for the last commits on power loss).
    Transactions on SQLite start with a plain ``BEGIN``, or ``BEGIN IMMEDIATE`` when
    opened with ``transaction(..., write=True)``.

    Call ``await engine.dispose()`` at shutdown.
    """
    parsed = normalize_url(url)
    if parsed.drivername.startswith("sqlite"):
        if (
            parsed.database
            and parsed.database != ":memory:"
            and not parsed.database.startswith("file:")
        ):
            # SQLite creates the file but not its directory; "unable to open database file"
            # would not say which. Both are private to the server's user: SQLite would
            # create the file world-readable (its -wal and -shm files copy its mode).
            database = Path(parsed.database)
            database.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.close(os.open(database, os.O_CREAT | os.O_WRONLY, 0o600))
        engine = _create_async_engine(parsed, echo=echo, hide_parameters=True)
        _install_sqlite_hooks(engine)
        return engine
    # pre_ping: a pooled connection outliving a PostgreSQL restart is replaced, not failed.
    # hide_parameters: an error logged with its statement must not carry user data
    # (message texts, password hashes) into the log.
    return _create_async_engine(parsed, echo=echo, pool_pre_ping=True, hide_parameters=True)


def _install_sqlite_hooks(engine: AsyncEngine) -> None:
    in_loop = isinstance(engine.dialect, InLoopSQLiteDialect)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (recipe from the SQLAlchemy SQLite dialect docs):
        # the driver's implicit BEGIN is deferred and skipped before SELECTs.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA synchronous=NORMAL")
            if in_loop:
                # Checkpoints run in a background thread instead (see Checkpointer).
                cursor.execute("PRAGMA wal_autocheckpoint=0")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A deferred transaction that reads and then writes fails at once with SQLITE_BUSY
        # when another writer committed in between (busy_timeout cannot help there), so
        # writers take the write lock up front.
        if conn.get_execution_options().get(WRITE_OPTION):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def session_factory(engine: AsyncEngine) -> SessionFactory:
    """Return the session factory services take.

    Objects stay readable after commit (``expire_on_commit=False``) because services
    build their pydantic outputs after the transaction ends.
    """
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(
    sessions: SessionFactory, *, write: bool = False
) -> AsyncIterator[AsyncSession]:
    """Open a session inside one transaction; commit on exit, roll back on an exception.

    Pass ``write=True`` for a transaction that will write: on SQLite it starts with
    ``BEGIN IMMEDIATE`` so writers queue on the lock (up to the busy timeout) instead of
    failing halfway; on PostgreSQL it changes nothing.
    """
    lock = write_lock(_dialect(sessions)) if write else None
    if lock is None:
        async with sessions() as session, session.begin():
            if write:
                await session.connection(execution_options={WRITE_OPTION: True})
            yield session
        return
    async with lock, sessions() as session, session.begin():
        await session.connection(execution_options={WRITE_OPTION: True})
        yield session


def _dialect(sessions: SessionFactory) -> Any:
    bind = sessions.kw.get("bind")
    return bind.dialect if bind is not None else None


async def retry_on_conflict(operation: Callable[[], Awaitable[T]], *, attempts: int = 3) -> T:
    """Run ``operation`` (one whole transaction) again when it hits a unique constraint.

    For get-or-create under concurrency: the loser of an insert race rolls back, and its
    retry finds the winner's row. Re-raises the last ``IntegrityError`` after ``attempts``.
    """
    for attempt in range(1, attempts + 1):
        try:
            return await operation()
        except IntegrityError:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")
