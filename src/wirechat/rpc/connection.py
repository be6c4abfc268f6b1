"""The handle an application gets on a long-lived connection: a WebSocket, or one SSE stream.

HTTP queries and mutations are over when they answer; a WebSocket or an SSE stream
lives on, and the identity it was opened with can change or end meanwhile (a token
refreshed in-band, a session revoked, a token expiring). ``RequestInfo.connection``
carries this handle so that a procedure or the context factory can act on the
connection it runs on, without the engine knowing why.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any

from .errors import RPCError

__all__ = ["Connection"]


class Connection(abc.ABC):
    """One WebSocket connection, or one SSE stream, as the application sees it.

    Every method is synchronous and never blocks; each is a no-op once the
    connection is closed.
    """

    __slots__ = ()

    @abc.abstractmethod
    def replace_context(self, ctx: Any) -> None:
        """Run the connection's later calls with ``ctx``; running subscriptions go on.

        A WebSocket switches identity this way (e.g. after an in-band token refresh).
        An SSE stream makes no later calls, so there it changes nothing.
        """

    @abc.abstractmethod
    def end_subscriptions(self, error: RPCError | None = None) -> None:
        """End every subscription of the connection now.

        With ``error``: each subscription fails with it (WebSocket: an error message,
        then ``stopped``, the socket stays open; SSE: a ``serialized-error`` event, then
        the stream closes). Without: the streams end without a word so the client
        reconnects and resumes (SSE: closed without ``return``; WebSocket: the socket is
        closed, and ``wsLink`` reconnects).
        """

    @abc.abstractmethod
    def on_close(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once when the connection is gone (at once if it already is)."""
