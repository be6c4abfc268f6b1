"""tRPC over WebSocket (createWSClient + wsLink) on picows.

One :class:`WSLink` owns at most one active socket. It connects on first use, sends
``connectionParams`` first when configured, flushes every message
queued in one tick as one frame, answers ``PING`` with ``PONG`` and
multiplexes calls and subscriptions by id. When the socket drops it reconnects (attempt 0
at once, then the backoff of :func:`~wirechat.client.options.default_retry_delay`) as long
as a subscription is open, and re-sends each subscription with ``params.lastEventId`` =
its last tracked id; calls in flight on a lost socket fail, never replayed. On the
server's ``reconnect`` notification it opens the new socket before retiring the old one:
subscriptions move over at once and are stopped on the old socket, whose frames
for them are ignored from then on, so nothing arrives twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable, Mapping
from typing import Any

from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from ..codec import UNSET
from ..errors import TRPCClientError
from ..options import ConnectionParamsSource, HeadersSource, KeepAlive, RetryDelay, Source, resolve
from ..subscription import Event, Subscription
from . import protocol
from .protocol import Data, Failure, Incoming, Method, Reconnect, Started, Stopped

__all__ = ["FrameHook", "WSLink"]

logger = logging.getLogger("wirechat.client")

FrameHook = Callable[[bytes], bool]
"""Sees every text frame before it is decoded; returning True consumes it. For load
generators that recognise their own frames by a byte search (no JSON decoding)."""


class _Listener(WSListener):
    __slots__ = ("hook", "socket")

    def __init__(self, socket: _Socket, hook: FrameHook | None) -> None:
        self.socket = socket
        self.hook = hook

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.socket.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        msg_type = frame.msg_type
        if msg_type is WSMsgType.TEXT:
            data = frame.get_payload_as_bytes()
            # The hook runs first, on the listener itself: a load generator's deliveries
            # cost one call and a byte search here, nothing else.
            hook = self.hook
            if hook is not None and hook(data):
                self.socket.alive()
                return
            self.socket.received(data)
        elif msg_type is WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.socket.lost()


class _Socket:
    """One connection: what was sent on it, its keep-alive timers, its fate."""

    def __init__(self, link: WSLink, keep_alive: KeepAlive | None) -> None:
        self.link = link
        self.transport: WSTransport | None = None
        self.open = True
        self.rejected = False
        """An id:null error arrived (createContext failed): keep the backoff going."""
        self.retiring = False
        self.reconnect_requested = False
        self.signal = asyncio.Event()
        """Set when the socket closed or the server asked for a reconnect."""
        self.calls: set[int] = set()
        self._outbox: list[dict[str, Any]] = []
        self._keep_alive = keep_alive
        self._ping_timer: asyncio.TimerHandle | None = None
        self._pong_timer: asyncio.TimerHandle | None = None
        self._loop = asyncio.get_running_loop()

    def send(self, message: dict[str, Any]) -> None:
        if not self.open:
            return
        if not self._outbox:
            self._loop.call_soon(self._flush)
        self._outbox.append(message)

    def send_now(self, frame: bytes) -> None:
        if self.open and self.transport is not None:
            self.transport.send(WSMsgType.TEXT, frame)

    def _flush(self) -> None:
        outbox, self._outbox = self._outbox, []
        if outbox:
            self.send_now(protocol.pack(outbox))

    def alive(self) -> None:
        """A frame arrived: the keep-alive timer starts again."""
        if self._keep_alive is not None:
            self._arm_ping()

    def received(self, frame: bytes) -> None:
        if self._keep_alive is not None:
            self._arm_ping()
        if frame == protocol.PING:
            self.send_now(protocol.PONG)
            return
        if frame == protocol.PONG:
            if self._pong_timer is not None:
                self._pong_timer.cancel()
                self._pong_timer = None
            return
        self.link.dispatch(self, protocol.parse(frame))

    def started(self) -> None:
        if self._keep_alive is not None:
            self._arm_ping()

    def _arm_ping(self) -> None:
        if self._ping_timer is not None:
            self._ping_timer.cancel()
        assert self._keep_alive is not None
        self._ping_timer = self._loop.call_later(self._keep_alive.interval, self._ping)

    def _ping(self) -> None:
        assert self._keep_alive is not None
        self.send_now(protocol.PING)
        if self._pong_timer is None:
            self._pong_timer = self._loop.call_later(self._keep_alive.pong_timeout, self.abort)

    def close(self) -> None:
        """Close with a handshake (1000)."""
        if self.open and self.transport is not None:
            self._flush()
            with contextlib.suppress(Exception):
                self.transport.send_close(WSCloseCode.OK)
            self.transport.disconnect()

    def abort(self) -> None:
        """Drop the connection without a handshake."""
        if self.open and self.transport is not None:
            self.transport.disconnect(graceful=False)

    def lost(self) -> None:
        if not self.open:
            return
        self.open = False
        for timer in (self._ping_timer, self._pong_timer):
            if timer is not None:
                timer.cancel()
        self.signal.set()
        self.link.socket_lost(self)


class _Call:
    __slots__ = ("future", "message", "socket")

    def __init__(self, future: asyncio.Future[Any], message: dict[str, Any]) -> None:
        self.future = future
        self.message = message
        self.socket: _Socket | None = None


class WSLink:
    """Calls and subscriptions over one tRPC WebSocket that repairs itself.

    ``url`` may be a callable (evaluated on every connect). ``headers`` go on the
    upgrade request (servers that read ``Authorization`` there); ``connection_params``,
    when given, is sent as the first message of every connection.
    """

    def __init__(
        self,
        url: Source[str],
        *,
        headers: HeadersSource = None,
        connection_params: ConnectionParamsSource = None,
        retry_delay: RetryDelay,
        keep_alive: KeepAlive | None = None,
        connect_timeout: float = 30.0,
        max_frame_size: int = 64 * 1024 * 1024,
        frame_hook: FrameHook | None = None,
    ) -> None:
        self._url = url
        self._headers = headers
        self._connection_params = connection_params
        self._retry_delay = retry_delay
        self._keep_alive = keep_alive
        self._connect_timeout = connect_timeout
        self._max_frame_size = max_frame_size
        self.frame_hook = frame_hook
        self._ids = itertools.count(1)
        self._calls: dict[int, _Call] = {}
        self._waiting: list[int] = []
        self._subs: dict[int, Subscription] = {}
        self._sub_ids: dict[Subscription, int] = {}
        self._sub_socket: dict[int, _Socket] = {}
        self._socket: _Socket | None = None
        self._runner: asyncio.Task[None] | None = None
        self._demand = asyncio.Event()
        self._ready = asyncio.Event()
        self._pinned = False
        self._closing = False
        self.connections = 0
        """Sockets opened so far (for observability and tests)."""

    # ---- the application's side -----------------------------------------------------

    async def call(self, kind: Method, path: str, input: Any = UNSET) -> Any:
        """The ``data`` of a query or mutation over the socket."""
        if self._closing:
            raise TRPCClientError("client is closed")
        id = next(self._ids)
        call = _Call(
            asyncio.get_running_loop().create_future(), protocol.request(id, kind, path, input)
        )
        self._calls[id] = call
        socket = self._socket
        if socket is not None and socket.open and not socket.retiring:
            call.socket = socket
            socket.calls.add(id)
            socket.send(call.message)
        else:
            self._waiting.append(id)
            self._wake()
        try:
            return await call.future
        finally:
            self._forget(id)

    def open(self, subscription: Subscription) -> None:
        if self._closing:
            subscription.on_error(TRPCClientError("client is closed"))
            return
        id = next(self._ids)
        self._subs[id] = subscription
        self._sub_ids[subscription] = id
        socket = self._socket
        if socket is not None and socket.open and not socket.retiring:
            self._subscribe_on(socket, id, subscription)
        self._wake()

    async def close(self, subscription: Subscription) -> None:
        id = self._sub_ids.pop(subscription, None)
        if id is None:
            return
        self._subs.pop(id, None)
        socket = self._sub_socket.pop(id, None)
        if socket is not None:
            socket.send(protocol.stop(id))

    async def aclose(self) -> None:
        """Stop every subscription, fail pending calls, close the socket."""
        self._closing = True
        for sub in list(self._sub_ids):
            await self.close(sub)
            sub.on_complete()
        for id in list(self._calls):
            self._fail(id, TRPCClientError("client is closed"))
        socket = self._socket
        self._socket = None
        if socket is not None:
            socket.close()
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner

    async def connect(self) -> None:
        """Open the socket now rather than on the first request, and keep it open (and
        reconnecting) until :meth:`aclose`. Waits while attempts fail: bound it with
        ``asyncio.timeout``."""
        self._pinned = True
        self._wake()
        await self._ready.wait()

    @property
    def connected(self) -> bool:
        """A socket is open and in use."""
        return self._socket is not None and self._socket.open

    def abort(self) -> None:
        """Drop the current socket as a network failure would (the link reconnects)."""
        if self._socket is not None:
            self._socket.abort()

    # ---- the connection supervisor ---------------------------------------------------

    def _wake(self) -> None:
        if self._runner is None or self._runner.done():
            self._runner = asyncio.ensure_future(self._run())
        self._demand.set()

    def _wanted(self) -> bool:
        return bool(self._pinned or self._subs or self._waiting)

    async def _run(self) -> None:
        attempt = 0
        while not self._closing:
            if not self._wanted():
                self._demand.clear()
                await self._demand.wait()
                continue
            try:
                socket = await self._connect()
            except Exception as exc:
                error = TRPCClientError(f"WebSocket connection failed: {type(exc).__name__}: {exc}")
                error.__cause__ = exc
                for id in self._waiting:
                    self._fail(id, error)
                self._waiting.clear()
                await asyncio.sleep(self._retry_delay(attempt))
                attempt += 1
                continue
            self._activate(socket)
            await socket.signal.wait()
            while socket.reconnect_requested and socket.open and not self._closing:
                try:
                    new = await self._connect()
                except Exception:
                    socket.reconnect_requested = False
                    socket.signal.clear()
                    if socket.open:
                        await socket.signal.wait()
                    break
                self._activate(new, previous=socket)
                socket = new
                await socket.signal.wait()
            attempt = attempt + 1 if socket.rejected else 0
            if self._closing:
                return
            if self._wanted():
                await asyncio.sleep(self._retry_delay(attempt))

    async def _connect(self) -> _Socket:
        url = await resolve(self._url)
        params: Mapping[str, str | None] | None = None
        if self._connection_params is not None:
            params = await resolve(self._connection_params)
            url += ("&" if "?" in url else "?") + "connectionParams=1"
        headers = await resolve(self._headers) if self._headers is not None else None
        socket = _Socket(self, self._keep_alive)
        transport, _ = await ws_connect(
            lambda: _Listener(socket, self.frame_hook),
            url,
            websocket_handshake_timeout=self._connect_timeout,
            extra_headers=dict(headers) if headers else None,
            max_frame_size=self._max_frame_size,
        )
        socket.transport = transport
        if transport.is_disconnected or not socket.open:
            raise ConnectionError("closed during the handshake")
        if self._connection_params is not None:
            socket.send_now(protocol.connection_params(dict(params) if params else None))
        self.connections += 1
        socket.started()
        return socket

    def _activate(self, socket: _Socket, previous: _Socket | None = None) -> None:
        """Make ``socket`` the active one: subscriptions, then waiting calls, go on it."""
        if self._closing:
            socket.close()
            return
        self._socket = socket
        self._ready.set()
        for id, sub in self._subs.items():
            old = self._sub_socket.get(id)
            if old is not None and old.open:
                old.send(protocol.stop(id))
            self._subscribe_on(socket, id, sub)
        waiting, self._waiting = self._waiting, []
        for id in waiting:
            call = self._calls.get(id)
            if call is not None and not call.future.done():
                call.socket = socket
                socket.calls.add(id)
                socket.send(call.message)
        if previous is not None:
            previous.retiring = True
            if not previous.calls:
                previous.close()

    def _subscribe_on(self, socket: _Socket, id: int, sub: Subscription) -> None:
        self._sub_socket[id] = socket
        socket.send(protocol.request(id, "subscription", sub.path, sub.input, sub.last_event_id))

    # ---- the sockets' side -------------------------------------------------------------

    def dispatch(self, socket: _Socket, items: list[Incoming]) -> None:
        for item in items:
            if isinstance(item, Reconnect):
                if socket is self._socket:
                    socket.reconnect_requested = True
                    socket.signal.set()
                continue
            if isinstance(item, Failure) and item.id is None:
                socket.rejected = True
                continue
            id = getattr(item, "id", None)
            call = self._calls.get(id) if isinstance(id, int) else None
            if call is not None:
                if call.socket is socket:
                    self._settle(call, item)
                continue
            if not isinstance(id, int):
                continue
            sub = self._subs.get(id)
            if sub is None or self._sub_socket.get(id) is not socket:
                continue  # a late frame from a retired socket, or for a stopped id
            if isinstance(item, Data):
                if item.tracked_id is not None:
                    data = item.data.get("data") if isinstance(item.data, dict) else item.data
                    sub.on_data(Event(data, str(item.tracked_id)))
                else:
                    sub.last_event_id = None  # as the reference client does
                    sub.on_data(Event(item.data))
            elif isinstance(item, Started):
                sub.on_started()
            elif isinstance(item, Stopped):
                self._drop_sub(id)
                sub.on_complete()
            elif isinstance(item, Failure):
                self._drop_sub(id)
                sub.on_error(TRPCClientError.from_shape(item.shape))

    def _settle(self, call: _Call, item: Incoming) -> None:
        if call.future.done():
            return
        if isinstance(item, Data):
            call.future.set_result(item.data)
        elif isinstance(item, Failure):
            call.future.set_exception(TRPCClientError.from_shape(item.shape))
        else:
            call.future.set_exception(TRPCClientError(f"unexpected answer to a call: {item!r}"))

    def _drop_sub(self, id: int) -> None:
        sub = self._subs.pop(id, None)
        if sub is not None:
            self._sub_ids.pop(sub, None)
        self._sub_socket.pop(id, None)

    def socket_lost(self, socket: _Socket) -> None:
        error = TRPCClientError("WebSocket closed")
        for id in list(socket.calls):
            self._fail(id, error)
        if self._socket is socket:
            self._socket = None
            self._ready.clear()

    def _fail(self, id: int, error: TRPCClientError) -> None:
        call = self._calls.pop(id, None)
        if call is None:
            return
        if call.socket is not None:
            call.socket.calls.discard(id)
        if not call.future.done():
            call.future.set_exception(error)

    def _forget(self, id: int) -> None:
        call = self._calls.pop(id, None)
        if call is None or call.socket is None:
            return
        socket = call.socket
        socket.calls.discard(id)
        if socket.retiring and not socket.calls:
            socket.close()
