"""The store on one direct SQLite connection, run synchronously in the event loop.

Like better-sqlite3 in Node: each operation runs to completion without awaiting, so
it blocks the loop for its few tens of microseconds and nothing else; no SQLAlchemy
execution layer, no worker thread. Writes take the database's in-process write lock
first (shared with the engine's writers), then run in one ``BEGIN IMMEDIATE``
transaction. Reads run outside a transaction: under WAL each statement sees committed
data.
"""

from __future__ import annotations

from typing import TypeVar

from wirechat.chat.store.pages import PageCache
from wirechat.chat.store.runner import ProgramStore
from wirechat.chat.store.transactions import Program
from wirechat.db.sqlite import DirectConnection

__all__ = ["SQLiteStore", "run"]

T = TypeVar("T")


def run(conn: DirectConnection, program: Program[T]) -> T:
    """Run ``program`` to its end on ``conn``."""
    try:
        statement, params = next(program)
        while True:
            statement, params = program.send(conn.all(statement, params))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    finally:
        program.close()


class SQLiteStore(ProgramStore):
    """The chat store on a :class:`~wirechat.db.sqlite.DirectConnection` (owned: closed
    by :meth:`aclose`)."""

    def __init__(self, conn: DirectConnection, pages: PageCache | None = None) -> None:
        super().__init__(pages)
        self._conn = conn

    async def _read(self, program: Program[T]) -> T:
        return run(self._conn, program)

    async def _write(self, program: Program[T]) -> T:
        async with self._conn.write_lock:
            with self._conn.transaction():
                return run(self._conn, program)

    async def aclose(self) -> None:
        self._conn.close()
