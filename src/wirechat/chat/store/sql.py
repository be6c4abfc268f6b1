"""The store through SQLAlchemy's async engine (PostgreSQL; any SQLite URL that the
direct connection cannot serve, such as an in-memory database)."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from wirechat.chat.store.pages import PageCache
from wirechat.chat.store.runner import ProgramStore
from wirechat.chat.store.transactions import Program, Rows
from wirechat.db.session import session_factory, transaction

__all__ = ["SQLStore", "run"]

T = TypeVar("T")


async def run(conn: AsyncConnection, program: Program[T]) -> T:
    """Run ``program`` to its end on ``conn``."""
    try:
        statement, params = next(program)
        while True:
            result = await conn.execute(statement, params)
            rows: Rows = result.all() if result.returns_rows else ()
            statement, params = program.send(rows)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    finally:
        program.close()


class SQLStore(ProgramStore):
    """The chat store on an async engine (not owned: its owner disposes of it)."""

    def __init__(self, engine: AsyncEngine, pages: PageCache | None = None) -> None:
        super().__init__(pages)
        self._sessions = session_factory(engine)

    async def _read(self, program: Program[T]) -> T:
        async with transaction(self._sessions) as session:
            return await run(await session.connection(), program)

    async def _write(self, program: Program[T]) -> T:
        # write=True: BEGIN IMMEDIATE and the in-process write lock on SQLite.
        async with transaction(self._sessions, write=True) as session:
            return await run(await session.connection(), program)
