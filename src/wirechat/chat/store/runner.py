"""What both store implementations share: the operations, each one program run in a
read or a write transaction. An implementation only says how to run a program."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TypeVar

from sqlalchemy.exc import IntegrityError

from wirechat.chat import schemas
from wirechat.chat.errors import ValidationFailed
from wirechat.chat.models import utc_now
from wirechat.chat.store import transactions
from wirechat.chat.store.base import EVENT_PAGE, EventRow, MessageResult
from wirechat.chat.store.pages import PageCache
from wirechat.chat.store.transactions import Program

__all__ = ["ProgramStore"]

T = TypeVar("T")


class ProgramStore(ABC):
    """A :class:`~wirechat.chat.store.base.ChatStore` that runs the programs of
    :mod:`~wirechat.chat.store.transactions`.

    ``pages`` keeps recently read history pages (see :mod:`~wirechat.chat.store.pages`);
    each store has its own unless one is given.
    """

    def __init__(self, pages: PageCache | None = None) -> None:
        self.pages = pages if pages is not None else PageCache()

    @abstractmethod
    async def _read(self, program: Program[T]) -> T:
        """Run a program that only reads (its statements see committed data)."""

    @abstractmethod
    async def _write(self, program: Program[T]) -> T:
        """Run a program in one write transaction: committed if it returns, rolled
        back if it raises."""

    async def aclose(self) -> None:
        return None

    async def require_member(self, room_id: int, user_id: int) -> None:
        await self._read(transactions.membership(room_id, user_id))

    async def find_sent(
        self, *, room_id: int, author_id: int, client_message_id: str
    ) -> schemas.Message | None:
        return await self._read(transactions.find_sent(room_id, author_id, client_message_id))

    async def send(
        self, *, room_id: int, author_id: int, text: str, client_message_id: str | None = None
    ) -> MessageResult:
        program = transactions.send(room_id, author_id, text, client_message_id, utc_now())
        try:
            return await self._write(program)
        except IntegrityError:
            # A concurrent retry won the insert race: answer with its message.
            if client_message_id is None:
                raise
            stored = await self._read(
                transactions.by_client_id(room_id, author_id, client_message_id)
            )
            if stored is None:
                # The (author, clientMessageId) index is per author, not per room.
                raise ValidationFailed(
                    ("clientMessageId",), "already used for a message in another room"
                ) from None
            return MessageResult(stored, None)

    async def edit(self, *, message_id: int, user_id: int, text: str) -> MessageResult:
        return await self._write(transactions.edit(message_id, user_id, text, utc_now()))

    async def delete(self, *, message_id: int, user_id: int) -> MessageResult:
        return await self._write(transactions.delete(message_id, user_id, utc_now()))

    async def history(
        self, *, room_id: int, user_id: int, cursor: int | None = None, limit: int = 50
    ) -> bytes:
        return await self._read(transactions.history(room_id, user_id, cursor, limit, self.pages))

    async def events_after(
        self, room_id: int, after_seq: int, limit: int = EVENT_PAGE
    ) -> list[EventRow]:
        return await self._read(transactions.events_after(room_id, after_seq, limit))

    async def last_seq(self, room_id: int) -> int:
        return await self._read(transactions.last_seq(room_id))
