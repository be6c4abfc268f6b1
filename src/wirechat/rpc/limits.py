"""Per-connection limits, the same on every transport, and the bounded output buffer.

A client that stops reading must not make the server hold its output: every
transport counts the bytes produced for a connection and not yet written
against one bound (``max_buffered_bytes``). Over it the connection is cut,
never slowed (the producer is a broadcast shared with other clients): a
WebSocket is closed with 1013, an SSE or JSONL response ends, and the client
resumes with its last event id.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

__all__ = ["Limits", "Outbox"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-connection limits (docs/api.md "Limits"); each is a server setting.

    ``max_message_bytes``: one WebSocket message (close 1009 over it);
    ``max_batch_size``: calls in one batch or one WebSocket array frame;
    ``max_subscriptions``: open subscriptions on one WebSocket;
    ``max_buffered_bytes``: output produced and not yet written, per connection;
    ``max_stream_setups``: subscriptions being set up at once on one connection;
    more wait their turn, and past ten times as many waiting: TOO_MANY_REQUESTS;
    ``max_calls_in_flight``: queries and mutations running at once on one WebSocket
    (requests waiting for the context included); one more is TOO_MANY_REQUESTS;
    ``ping_interval`` / ``pong_timeout``: WebSocket keep-alive.
    """

    max_message_bytes: int = 1024 * 1024
    max_batch_size: int = 50
    max_subscriptions: int = 100
    max_buffered_bytes: int = 8 * 1024 * 1024
    max_stream_setups: int = 10
    max_calls_in_flight: int = 64
    ping_interval: float | None = 30.0
    pong_timeout: float = 5.0


class Outbox:
    """Chunks of bytes waiting to be written to one connection, bounded in bytes.

    Producers :meth:`put` without waiting; the writer awaits :meth:`get`. Over
    ``limit`` the outbox drops what it holds and closes (:attr:`overflowed`), and
    every later :meth:`put` is refused, so a producer can stop at once.
    """

    __slots__ = ("_items", "_waiter", "closed", "limit", "overflowed", "pending")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.pending = 0
        self.closed = False
        self.overflowed = False
        self._items: deque[bytes] = deque()
        self._waiter: asyncio.Future[None] | None = None

    def put(self, data: bytes) -> bool:
        """Queue ``data``; False when closed or when it passes the limit (then closed)."""
        if self.closed:
            return False
        self.pending += len(data)
        if self.pending > self.limit:
            self.overflowed = True
            self._items.clear()
            self.pending = 0
            self.close()
            return False
        self._items.append(data)
        self._wake()
        return True

    def close(self) -> None:
        """No more data: :meth:`get` returns what is queued, then None."""
        self.closed = True
        self._wake()

    async def get(self, within: float | None = None) -> bytes | None:
        """The next chunk; None once closed and empty. Raises TimeoutError after
        ``within`` seconds without data."""
        while not self._items:
            if self.closed:
                return None
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                if within is None:
                    await self._waiter
                else:
                    await asyncio.wait_for(self._waiter, within)
            finally:
                self._waiter = None
        data = self._items.popleft()
        self.pending -= len(data)
        return data

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
