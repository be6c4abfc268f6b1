"""A subscription as the application sees it: an async iterator of :class:`Event`.

The transports (:mod:`.http` for SSE, :mod:`.ws.link` for WebSocket) feed it through the
``on_*`` methods; the application reads it with ``async for``. Between the two sits one
unbounded queue, so a slow reader never makes a transport drop an event.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Protocol

from .codec import UNSET
from .errors import TRPCClientError

__all__ = ["Channel", "Event", "Subscription"]


@dataclass(frozen=True, slots=True)
class Event:
    """One value of a subscription.

    ``id`` is the tracked id (``tracked(id, data)`` on the server), None for an untracked
    value. The client resumes after the last tracked id it yielded.
    """

    data: Any
    id: str | None = None


class Channel(Protocol):
    """What a transport offers a subscription: start delivering, stop delivering."""

    def open(self, subscription: Subscription) -> None:
        """Start the subscription; events arrive through its ``on_*`` methods."""

    async def close(self, subscription: Subscription) -> None:
        """Stop it on the server; no ``on_*`` call follows."""


_COMPLETE: Final = object()


class Subscription:
    """An open-ended stream of :class:`Event` from one subscription procedure.

    Iterate it with ``async for``; the loop ends when the server completes the stream and
    raises :class:`TRPCClientError` when the server ends it with a non-retryable error.
    Lost connections are repaired underneath: the client reconnects and resumes after
    :attr:`last_event_id`. Use ``async with`` (or :meth:`aclose`) to stop early, so the
    server stops too.
    """

    def __init__(
        self,
        path: str,
        input: Any,
        channel: Channel,
        *,
        last_event_id: str | None = None,
    ) -> None:
        self.path = path
        self.input = input
        self.last_event_id = last_event_id
        """The last tracked id received; sent as ``lastEventId`` when resuming."""
        self.starts = 0
        """How many times the server started it (1 + the reconnections that took)."""
        self._channel = channel
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._started = asyncio.Event()
        self._opened = False
        self._finished = False
        self._error: TRPCClientError | None = None

    # ---- for the application ---------------------------------------------------------

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        self._open()
        if self._finished and self._queue.empty():
            raise StopAsyncIteration
        item = await self._queue.get()
        if isinstance(item, Event):
            return item
        self._finished = True
        if isinstance(item, TRPCClientError):
            raise item
        raise StopAsyncIteration

    async def __aenter__(self) -> Subscription:
        self._open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def started(self) -> None:
        """Wait until the server has started the stream (its first ``started``/``connected``).

        Raises :class:`TRPCClientError` if the subscription failed before that.
        """
        self._open()
        await self._started.wait()
        if self._error is not None and self.starts == 0:
            raise self._error

    @property
    def active(self) -> bool:
        """Opened and not yet ended by the server or by :meth:`aclose`."""
        return self._opened and self._error is None and not self._closed

    async def aclose(self) -> None:
        """Stop the subscription (``subscription.stop`` / closing the SSE stream)."""
        if self._opened and not self._closed:
            self._closed = True
            await self._channel.close(self)
            self._queue.put_nowait(_COMPLETE)
            self._started.set()

    # ---- for the transports ----------------------------------------------------------

    _closed = False

    def request_input(self) -> Any:
        """The input to send now: ``lastEventId`` merged in once a tracked id is known.

        Objects get ``{...input, lastEventId}``; no input becomes ``{lastEventId}``;
        a primitive input is sent unchanged.
        """
        if self.last_event_id is None:
            return self.input
        if self.input is UNSET or self.input is None:
            return {"lastEventId": self.last_event_id}
        if isinstance(self.input, dict):
            return {**self.input, "lastEventId": self.last_event_id}
        return self.input

    def on_started(self) -> None:
        self.starts += 1
        self._started.set()

    def on_data(self, event: Event) -> None:
        if event.id is not None:
            self.last_event_id = event.id
        self._queue.put_nowait(event)

    def on_error(self, error: TRPCClientError) -> None:
        self._error = error
        self._closed = True
        self._queue.put_nowait(error)
        self._started.set()

    def on_complete(self) -> None:
        self._closed = True
        self._queue.put_nowait(_COMPLETE)
        self._started.set()

    def _open(self) -> None:
        if not self._opened:
            self._opened = True
            self._channel.open(self)
