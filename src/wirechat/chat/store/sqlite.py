"""The store on one direct SQLite connection, run synchronously in the event loop.

Like better-sqlite3 in Node: each operation runs to completion without awaiting, so
it blocks the loop for its few tens of microseconds and nothing else; no SQLAlchemy
execution layer, no worker thread. Reads run outside a transaction: under WAL each
statement sees committed data.

Writes are committed in groups. A write is queued, and the writes queued in one turn
of the event loop (the sends of several clients that arrived together) then run in
one ``BEGIN IMMEDIATE`` transaction, each in a savepoint of its own, with one
``COMMIT``. ``COMMIT`` is the costliest statement of a send (it appends every changed
page to the WAL), and a burst is exactly when the sends behind it wait, so sharing it
shortens the burst. No caller learns its result before the ``COMMIT``: what a write
returns is stored. The group takes the database's in-process write lock first (shared
with the engine's writers).
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

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


class _Write:
    """One queued write: its program and the future its caller awaits."""

    __slots__ = ("future", "program")

    def __init__(self, program: Program[Any], future: asyncio.Future[Any]) -> None:
        self.program = program
        self.future = future


class SQLiteStore(ProgramStore):
    """The chat store on a :class:`~wirechat.db.sqlite.DirectConnection` (owned: closed
    by :meth:`aclose`)."""

    def __init__(self, conn: DirectConnection, pages: PageCache | None = None) -> None:
        super().__init__(pages)
        self._conn = conn
        self._queued: list[_Write] = []
        self._committer: asyncio.Handle | asyncio.Task[None] | None = None

    async def _read(self, program: Program[T]) -> T:
        return run(self._conn, program)

    async def _write(self, program: Program[T]) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queued.append(_Write(program, future))
        if self._committer is None:
            # Scheduled now, it runs after the other calls already due in this turn,
            # so their writes join this group.
            self._committer = asyncio.get_running_loop().call_soon(self._commit_soon)
        return await future

    def _commit_soon(self) -> None:
        if self._conn.write_lock.locked():
            # An engine writer holds the database: wait for it in a task.
            self._committer = asyncio.ensure_future(self._commit_queued())
            return
        # Synchronous, so no other writer can start before it ends: no need to
        # take the lock.
        self._commit_group()

    async def _commit_queued(self) -> None:
        try:
            async with self._conn.write_lock:
                self._commit_group()
        except asyncio.CancelledError:
            # Cancelled while waiting for the lock (the store is closing): none ran.
            for write in self._take_queued():
                write.program.close()
                write.future.cancel()
            raise

    def _commit_group(self) -> None:
        """Commit what is queued now; writes queued later start a new group."""
        self._commit(self._take_queued())

    def _take_queued(self) -> list[_Write]:
        """The writes queued so far; the next write starts a new group (and committer)."""
        group, self._queued, self._committer = self._queued, [], None
        return group

    def _commit(self, group: list[_Write]) -> None:
        """Run ``group``'s programs in one transaction; settle each future after the
        ``COMMIT``, with its program's value or exception."""
        live = []
        for write in group:
            if write.future.cancelled():
                write.program.close()  # its caller went away before it ran
            else:
                live.append(write)
        if not live:
            return
        outcomes: list[tuple[Any, BaseException | None]] = []
        try:
            with self._conn.transaction():
                if len(live) == 1:
                    # Alone: its exception rolls the whole transaction back.
                    outcomes.append((run(self._conn, live[0].program), None))
                else:
                    for write in live:
                        try:
                            with self._conn.savepoint():
                                outcomes.append((run(self._conn, write.program), None))
                        except Exception as exc:
                            outcomes.append((None, exc))
        except BaseException as exc:
            # The program alone, BEGIN or COMMIT failed: nothing of the group is stored.
            for write in live:
                write.program.close()
                if not write.future.done():
                    write.future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for write, (value, error) in zip(live, outcomes, strict=True):
            if error is None:
                write.future.set_result(value)
            else:
                write.future.set_exception(error)

    async def aclose(self) -> None:
        committer = self._committer
        if committer is not None and not isinstance(committer, asyncio.Task):
            committer.cancel()  # not run yet: run it now, before the connection closes
            self._commit_soon()
        committer = self._committer
        if isinstance(committer, asyncio.Task):
            await asyncio.wait([committer])
        self._conn.close()
