"""Credentials on every call and on open connections: which sessions are live, and what
ends when one ends or a connection's token expires (docs/api.md "Sessions").

Every *auth* call asks :meth:`SessionGuard.cached` whether its token's session is live:
a dict read, answered from the database once per session and process
(:meth:`SessionGuard.is_live`). Ending sessions (:meth:`SessionGuard.revoke`) marks them
here and publishes their ids on one broker topic (``<namespace>sessions``, payload
``E<id>,<id>,...``); every process marks them ended and ends the subscriptions of the
connections they hold, so their tokens stop working everywhere within the broker's
latency. If the broker subscription is lost, what was cached as live is forgotten and
the sessions of open connections are checked again, since an ending may have been missed.

Open WebSockets and SSE streams are *watched*: each is filed under its session, with a
deadline at its token's expiry plus the grace period (one loop timer for all of them,
:class:`~wirechat.deadlines.Deadlines`). A WebSocket whose token expired
unrefreshed has its subscriptions ended with ``UNAUTHORIZED``; an SSE stream is closed
without ``return``, so the client reconnects with fresh ``connectionParams``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

from wirechat.broker import Broker, BrokerClosed, BrokerError, BrokerUnavailable, SubscriptionLost
from wirechat.deadlines import Deadlines
from wirechat.rpc import Connection, ErrorCode, RPCError
from wirechat.rpc.context import Transport

__all__ = ["SESSION_ENDED", "TOKEN_EXPIRED", "SessionGuard"]

logger = logging.getLogger("wirechat.sessions")

SESSION_ENDED = "Your session has ended; sign in again"
TOKEN_EXPIRED = "Your token has expired; refresh it or sign in again"

IsLive = Callable[[int], Awaitable[bool]]
"""``is_live(session_id)``: the database's answer."""

EndedAmong = Callable[[list[int]], Awaitable[list[int]]]
"""``ended_among(session_ids)``: those that have ended, per the database."""


class _Watch:
    __slots__ = ("session_id", "transport")

    def __init__(self, session_id: int, transport: Transport) -> None:
        self.session_id = session_id
        self.transport = transport


class SessionGuard:
    """This process's view of sessions: a cache of their state and the connections they hold.

    ``grace`` is ``TOKEN_GRACE_SECONDS``. Call :meth:`start` before serving and
    :meth:`aclose` at shutdown.
    """

    def __init__(
        self,
        broker: Broker,
        is_live: IsLive,
        ended_among: EndedAmong,
        *,
        grace: float,
        namespace: str = "",
        cache_size: int = 100_000,
    ) -> None:
        self.broker = broker
        self.grace = grace
        self.topic = f"{namespace}sessions"
        self._is_live = is_live
        self._ended_among = ended_among
        self._cache_size = cache_size
        self._live: dict[int, bool] = {}
        self._generation = 0
        """Bumped whenever cached answers are dropped: a load that started before must
        not put back what was dropped."""
        self._watches: dict[Connection, _Watch] = {}
        self._deadlines: Deadlines[Connection] = Deadlines(self._expired)
        self._by_session: dict[int, set[Connection]] = {}
        self._task: asyncio.Task[None] | None = None

    # -- the per-call check --------------------------------------------------------------

    def cached(self, session_id: int) -> bool | None:
        """Whether the session is live, if this process knows; None: ask :meth:`is_live`."""
        return self._live.get(session_id)

    async def is_live(self, session_id: int) -> bool:
        """Whether the session is live, from the cache or else the database."""
        known = self._live.get(session_id)
        if known is not None:
            return known
        generation = self._generation
        live = await self._is_live(session_id)
        if generation == self._generation:
            if len(self._live) >= self._cache_size:
                self._drop_cache()
            else:
                # An ending that arrived meanwhile wins over the answer read before it.
                live = self._live.setdefault(session_id, live)
        return live

    def _drop_cache(self) -> None:
        self._generation += 1
        self._live = {}

    # -- ending sessions -----------------------------------------------------------------

    async def revoke(self, session_ids: list[int]) -> None:
        """The sessions have ended (already written to the database): refuse their tokens
        and end their connections here now, and on every other process via the broker."""
        if not session_ids:
            return
        self._ended(session_ids)
        try:
            await self.broker.publish(self.topic, b"E" + ",".join(map(str, session_ids)).encode())
        except BrokerUnavailable as exc:
            # Other processes find out when their broker subscription comes back (resync).
            logger.warning("session end not published (%s)", exc)

    def _ended(self, session_ids: Iterable[int]) -> None:
        error = RPCError(ErrorCode.UNAUTHORIZED, SESSION_ENDED)
        for session_id in session_ids:
            self._live[session_id] = False
            for connection in self._by_session.pop(session_id, set()):
                self._watches.pop(connection, None)
                self._deadlines.discard(connection)
                connection.end_subscriptions(error)

    # -- open connections ----------------------------------------------------------------

    def watch(
        self, connection: Connection, transport: Transport, session_id: int, expires_at: float
    ) -> None:
        """File ``connection`` under ``session_id`` until it closes or switches to another
        token (call again); its token expires at ``expires_at`` (Unix time)."""
        if self._live.get(session_id) is False:
            connection.end_subscriptions(RPCError(ErrorCode.UNAUTHORIZED, SESSION_ENDED))
            return
        previous = self._watches.get(connection)
        if previous is None:

            def closed() -> None:
                self._unwatch(connection)

            connection.on_close(closed)
        else:
            self._unwatch(connection)
        delay = max(expires_at + self.grace - time.time(), 0.0)
        self._deadlines.set(connection, asyncio.get_running_loop().time() + delay)
        self._watches[connection] = _Watch(session_id, transport)
        self._by_session.setdefault(session_id, set()).add(connection)

    def _unwatch(self, connection: Connection) -> _Watch | None:
        watch = self._watches.pop(connection, None)
        if watch is None:
            return None
        self._deadlines.discard(connection)
        held = self._by_session.get(watch.session_id)
        if held is not None:
            held.discard(connection)
            if not held:
                del self._by_session[watch.session_id]
        return watch

    def _expired(self, connection: Connection) -> None:
        watch = self._unwatch(connection)
        if watch is None:
            return
        if watch.transport == "ws":
            connection.end_subscriptions(RPCError(ErrorCode.UNAUTHORIZED, TOKEN_EXPIRED))
        else:
            # SSE: closed without `return`, so httpSubscriptionLink reconnects with fresh
            # connectionParams and lastEventId (docs/api.md "Expiry on an open connection").
            connection.end_subscriptions()

    def tables(self) -> Iterator[set[Any] | dict[Any, Any]]:
        """The tables sized by the number of connections (shrunk after a wave)."""
        yield self._watches
        yield from self._deadlines.tables()
        yield self._by_session
        yield from self._by_session.values()

    @property
    def watched(self) -> int:
        """How many connections are watched (for tests and metrics)."""
        return len(self._watches)

    # -- the broker topic ----------------------------------------------------------------

    async def start(self) -> None:
        """Subscribe to the topic; returns once endings published from now on arrive."""
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._task = asyncio.ensure_future(self._run(ready))
        await asyncio.shield(ready)

    async def _run(self, ready: asyncio.Future[None]) -> None:
        delay = 0.05
        stale = False
        while True:
            try:
                async with self.broker.subscribe(self.topic) as subscription:
                    if stale:
                        await self._resync()
                        stale = False
                    if not ready.done():
                        ready.set_result(None)
                    delay = 0.05
                    async for payload in subscription:
                        self._receive(payload)
            except asyncio.CancelledError:
                raise
            except BrokerClosed:
                return
            except (SubscriptionLost, BrokerError) as exc:
                logger.warning("sessions: broker subscription lost (%s); resubscribing", exc)
            except Exception:
                logger.exception("sessions: listener failed; resubscribing")
            # Endings may be published while unsubscribed: check again once back. The
            # process serves meanwhile (a broker down at start must not stop it).
            stale = True
            if not ready.done():
                ready.set_result(None)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    def _receive(self, payload: bytes) -> None:
        if payload[:1] != b"E":
            return
        try:
            ids = [int(part) for part in payload[1:].split(b",")]
        except ValueError:
            logger.warning("sessions: malformed payload ignored")
            return
        self._ended(ids)

    async def _resync(self) -> None:
        """Endings may have been published while the subscription was down."""
        ended = {sid for sid, live in self._live.items() if not live}
        self._drop_cache()
        self._live.update(dict.fromkeys(ended, False))
        missed = await self._ended_among(list(self._by_session))
        if missed:
            self._ended(missed)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        self._deadlines.clear()
        self._watches.clear()
        self._by_session.clear()
