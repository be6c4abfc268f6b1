"""One WebSocket connection's run state: context, calls in flight, subscriptions.

Transport-free: the server adapter feeds frames in (:meth:`WSSession.receive_text`),
and the session writes through the injected ``send`` and ``close`` callables, which
must not block (they queue or write to the socket buffer). Both the standalone
server and the ASGI adapter drive this same class.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ..codec import UNDEFINED, InputSource, dumps
from ..connection import Connection
from ..context import RequestInfo
from ..engine import Engine
from ..errors import ErrorCode, RPCError
from ..limits import Limits
from ..push import StreamClosed
from ..runner import PreparedCall, Runner, close_stream
from ..tracked import Tracked
from .protocol import (
    PING,
    PONG,
    RECONNECT,
    ConnectionParams,
    Invalid,
    Ping,
    Pong,
    Request,
    Stop,
    TooManyInBatch,
    encode_data,
    encode_error,
    encode_result,
    parse_connection_params,
    parse_frame,
    subscription_prefix,
    tracked_body,
)

__all__ = ["SHUTTING_DOWN", "CloseCode", "WSSession"]

logger = logging.getLogger("wirechat.rpc.ws")

# A broadcast emits one Tracked to every subscriber in a row: its transformed frame
# tail is kept (event, path, bytes) so it is encoded once (the loop is one thread).
_last_transformed: list[Any] = [None, None, b""]

_STREAM_REFUSED = (
    "Cannot return an async iterable or observable from a query procedure with WebSockets"
)

Send = Callable[[bytes | str], None]
Close = Callable[[int, str], None]
"""Close the socket with a code and reason. With TRY_AGAIN_LATER (the client is too
slow) the transport drops what it has not written yet instead of flushing it."""


def _nothing_buffered() -> int:
    return 0


def _nothing() -> None:
    return None


class CloseCode:
    NORMAL = 1000
    GOING_AWAY = 1001
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013


SHUTTING_DOWN = "server shutting down"
"""The reason of every 1012 close, whichever way the socket meets the shutdown."""


class _Subscription:
    __slots__ = ("id", "jsonrpc", "path", "prefix", "task")

    def __init__(self, rid: Any, jsonrpc: bool, path: str) -> None:
        self.id = rid
        self.jsonrpc = jsonrpc
        self.path = path
        self.prefix = subscription_prefix(rid, jsonrpc)
        self.task: asyncio.Task[None] | None = None


class WSSession(Connection):
    """Runs the tRPC protocol for one connection.

    Call :meth:`start` once the socket is open, :meth:`receive_text` for each text
    message, :meth:`receive_binary` for binary ones and :meth:`aclose` when the
    socket has gone. :meth:`keepalive` is polled by the server's timer. The session
    is the connection's :class:`Connection` handle (``info.connection``).

    The limits are enforced here, once for both servers: a message over
    ``max_message_bytes`` closes with 1009; when ``buffered()`` (the bytes the
    transport holds unsent) passes ``max_buffered_bytes`` the client is too slow:
    close 1013, and every subscription stops producing at once.

    ``answered()`` is called once a call's answer has been handed to ``send``: a
    transport that holds frames back to write them together may write them now.
    """

    # One per connection: slots instead of a per-instance dict (docs/capacity.md).
    __slots__ = (
        "_answered",
        "_awaiting_params",
        "_buffered",
        "_calls",
        "_close",
        "_close_callbacks",
        "_closed",
        "_ctx_task",
        "_gone",
        "_max_buffered",
        "_ping_sent_at",
        "_queued",
        "_runner",
        "_send",
        "_subscriptions",
        "engine",
        "info",
        "last_inbound",
        "limits",
    )

    def __init__(
        self,
        engine: Engine[Any],
        info: RequestInfo,
        send: Send,
        close: Close,
        *,
        limits: Limits | None = None,
        expect_connection_params: bool = False,
        buffered: Callable[[], int] = _nothing_buffered,
        answered: Callable[[], None] = _nothing,
    ) -> None:
        self.engine = engine
        self.info = replace(info, connection=self)
        self.limits = limits or Limits()
        self._send = send
        self._close = close
        self._buffered = buffered
        self._answered = answered
        self._max_buffered = self.limits.max_buffered_bytes
        self._awaiting_params = expect_connection_params
        self._runner: Runner[Any] | None = None
        self._ctx_task: asyncio.Task[None] | None = None
        self._queued: list[Request] = []
        self._subscriptions: dict[Any, _Subscription] = {}
        self._calls: set[asyncio.Task[None]] = set()
        self._closed = False
        self.last_inbound = time.monotonic()
        self._ping_sent_at: float | None = None
        self._close_callbacks: list[Callable[[], None]] = []
        self._gone = False

    @property
    def closed(self) -> bool:
        """Closed by the session (it sends nothing more) or gone (:meth:`aclose`)."""
        return self._closed

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        """Begin creating the context, unless connectionParams must arrive first."""
        if not self._awaiting_params:
            self._begin_context(self.info)

    def _begin_context(self, info: RequestInfo) -> None:
        self.info = info
        self._ctx_task = asyncio.ensure_future(self._create_context())

    async def _create_context(self) -> None:
        runner = Runner(self.engine, self.info, max_stream_setups=self.limits.max_stream_setups)
        await runner.open()
        if runner.context_error is not None:
            self._reject(runner.context_error)
            return
        self._runner = runner
        self._ctx_task = None  # done: let the task go rather than keep it per connection
        queued, self._queued = self._queued, []
        for request in queued:
            self._dispatch(request)

    def _reject(self, err: RPCError) -> None:
        """createContext failed: id:null error, one error per queued request, close."""
        self.send(self._error_frame(None, False, err))
        for request in self._queued:
            self.send(self._error_frame(request.id, request.jsonrpc, err, request.path))
        self._queued.clear()
        self.close(CloseCode.NORMAL, "")

    async def aclose(self) -> None:
        """The socket is gone: cancel every call and subscription, send nothing more."""
        self._closed = True
        self._gone = True
        callbacks, self._close_callbacks = self._close_callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:
                logger.exception("close callback failed")
        tasks = [t for t in (self._ctx_task, *self._calls) if t is not None]
        tasks += [s.task for s in self._subscriptions.values() if s.task is not None]
        for task in tasks:
            task.cancel()
        self._subscriptions.clear()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task

    async def drain(self, grace: float) -> None:
        """Graceful shutdown: ask the client to reconnect elsewhere, let queries and
        mutations in flight finish (up to ``grace`` seconds), then end the connection."""
        self.send(RECONNECT)
        if self._calls:
            await asyncio.wait(set(self._calls), timeout=grace)
        self.close(CloseCode.SERVICE_RESTART, SHUTTING_DOWN)

    # -- I/O helpers ---------------------------------------------------------------

    def send(self, data: bytes | str) -> None:
        if self._closed:
            return
        self._send(data)
        if self._buffered() > self._max_buffered:
            # A client that stopped reading: cut it rather than hold its output or
            # slow the broadcast that feeds it (docs/api.md "Limits").
            logger.warning("WebSocket peer=%s too slow, closing (1013)", self.info.peer)
            self.close(CloseCode.TRY_AGAIN_LATER, "too slow")

    def close(self, code: int, reason: str) -> None:
        """Close the socket; subscriptions stop producing now (their tasks end with
        :meth:`aclose`, when the socket has gone)."""
        if self._closed:
            return
        self._closed = True
        subscriptions = list(self._subscriptions.values())
        self._subscriptions.clear()
        for sub in subscriptions:
            if sub.task is not None:
                sub.task.cancel()
        self._close(code, reason)

    @property
    def subscription_count(self) -> int:
        return len(self._subscriptions)

    # -- the Connection handle -----------------------------------------------------

    def replace_context(self, ctx: Any) -> None:
        """Later requests run with ``ctx``; subscriptions already running keep going."""
        if self._runner is not None and not self._closed:
            self._runner.replace_context(ctx)

    def end_subscriptions(self, error: RPCError | None = None) -> None:
        """Each subscription gets ``error`` then ``stopped``, and its task is
        cancelled; without ``error`` the socket is closed so the client reconnects."""
        if self._closed:
            return
        if error is None:
            self.close(CloseCode.NORMAL, "subscriptions ended")
            return
        for sub in list(self._subscriptions.values()):
            self.send(self._error_frame(sub.id, sub.jsonrpc, error, sub.path))
            self._finish(sub)
            if sub.task is not None:
                sub.task.cancel()

    def on_close(self, callback: Callable[[], None]) -> None:
        if self._gone:
            callback()
        else:
            self._close_callbacks.append(callback)

    # -- keep-alive -------------------------------------------------------

    def keepalive(self, now: float) -> None:
        """Server keep-alive: PING after ``ping_interval`` of silence; close when nothing
        at all arrives within ``pong_timeout`` of that PING."""
        interval = self.limits.ping_interval
        if interval is None or self.closed:
            return
        if self._ping_sent_at is not None:
            if self.last_inbound >= self._ping_sent_at:
                self._ping_sent_at = None
            elif now - self._ping_sent_at >= self.limits.pong_timeout:
                self.close(CloseCode.GOING_AWAY, "keep-alive timeout")
            return
        if now - self.last_inbound >= interval:
            self._ping_sent_at = now
            self.send(PING)

    # -- inbound -------------------------------------------------------------------

    def receive_binary(self, size: int = 0) -> None:
        """Binary frames are not JSON text: id:null PARSE_ERROR, socket stays open."""
        self.last_inbound = time.monotonic()
        if size > self.limits.max_message_bytes:
            self.message_too_big()
            return
        self._send_invalid(RPCError(ErrorCode.PARSE_ERROR, "Binary frames are not supported"))

    def message_too_big(self) -> None:
        """A message over ``max_message_bytes`` (also when found while reassembling)."""
        self.close(CloseCode.MESSAGE_TOO_BIG, "message too big")

    def receive_text(self, text: str | bytes) -> None:
        """Handle one complete text message."""
        self.last_inbound = time.monotonic()
        if self._closed:
            return
        if len(text) > self.limits.max_message_bytes:
            self.message_too_big()
            return
        if self._awaiting_params:
            self._awaiting_params = False
            if text in (PING, b"PING"):
                # A keep-alive before the params does not count as the first message.
                self._awaiting_params = True
                self.send(PONG)
                return
            try:
                params = parse_connection_params(text)
            except RPCError as err:
                self._reject(err)
                return
            self._on_connection_params(params)
            return
        for event in parse_frame(text, max_batch_size=self.limits.max_batch_size):
            if isinstance(event, Ping):
                self.send(PONG)
            elif isinstance(event, Pong):
                pass
            elif isinstance(event, Request):
                if event.method != "subscription" and self._calls_over_limit():
                    self._send_call_error(
                        event,
                        RPCError(
                            ErrorCode.TOO_MANY_REQUESTS,
                            f"Too many calls in flight on one connection "
                            f"(limit {self.limits.max_calls_in_flight})",
                        ),
                    )
                elif self._runner is not None:
                    self._dispatch(event)
                else:
                    self._queued.append(event)
            elif isinstance(event, Stop):
                self._stop(event.id)
            elif isinstance(event, Invalid):
                self._send_invalid(event.error)
            elif isinstance(event, TooManyInBatch):
                too_many = RPCError(ErrorCode.BAD_REQUEST, "Batch call exceeds maximum size")
                for rid in event.ids or (None,):
                    self.send(self._error_frame(rid, False, too_many))

    def _calls_over_limit(self) -> bool:
        # Requests waiting for the context count too: they all start once it is ready.
        waiting = sum(1 for r in self._queued if r.method != "subscription")
        return len(self._calls) + waiting >= self.limits.max_calls_in_flight

    def _on_connection_params(self, params: ConnectionParams) -> None:
        info = self.info
        self._begin_context(
            RequestInfo(info.transport, info.headers, info.query, info.peer, params.data, self)
        )

    def _send_invalid(self, err: RPCError) -> None:
        self.send(self._error_frame(None, False, err))

    # -- calls ---------------------------------------------------------------------

    def _dispatch(self, request: Request) -> None:
        procedure = self.engine.lookup(request.path)
        if procedure is None or procedure.type != request.method:
            err = RPCError(
                ErrorCode.NOT_FOUND, f'No "{request.method}"-procedure on path "{request.path}"'
            )
            self._send_call_error(request, err)
            return
        source = InputSource.of(request.input, last_event_id=request.last_event_id)
        call = PreparedCall(request.batch_index, request.path, procedure, source)
        if request.method == "subscription":
            if request.id in self._subscriptions:
                self._send_call_error(
                    request, RPCError(ErrorCode.BAD_REQUEST, f"Duplicate id {request.id}")
                )
                return
            if len(self._subscriptions) >= self.limits.max_subscriptions:
                self._send_call_error(
                    request,
                    RPCError(
                        ErrorCode.BAD_REQUEST,
                        f"Too many subscriptions on one connection "
                        f"(limit {self.limits.max_subscriptions})",
                    ),
                )
                return
            sub = _Subscription(request.id, request.jsonrpc, request.path)
            self._subscriptions[request.id] = sub
            sub.task = asyncio.ensure_future(self._run_subscription(sub, request, call))
            return
        task = asyncio.ensure_future(self._run_call(request, call))
        self._calls.add(task)
        task.add_done_callback(self._calls.discard)

    def _send_call_error(self, request: Request, err: RPCError) -> None:
        self.send(self._error_frame(request.id, request.jsonrpc, err, request.path))

    def _error_frame(
        self, rid: Any, jsonrpc: bool, err: RPCError, path: str | None = None
    ) -> bytes:
        engine = self.engine
        return encode_error(rid, jsonrpc, engine.error_payload(engine.error_shape(err, path)))

    async def _run_call(self, request: Request, call: PreparedCall) -> None:
        assert self._runner is not None
        try:
            data = await self._runner.unary(call, _STREAM_REFUSED)
        except RPCError as err:
            self._send_call_error(request, err)
        else:
            if data is None:
                self.send(encode_result(request.id, request.jsonrpc, "data"))
            else:
                self.send(encode_data(subscription_prefix(request.id, request.jsonrpc), data))
        self._answered()

    async def _run_subscription(
        self, sub: _Subscription, request: Request, call: PreparedCall
    ) -> None:
        runner = self._runner
        assert runner is not None
        try:
            try:
                stream = await runner.call(call)
            except RPCError as err:
                # Errors before iteration: only the error frame.
                if self._subscriptions.get(sub.id) is sub:
                    del self._subscriptions[sub.id]
                self._send_call_error(request, err)
                return
            if self._subscriptions.get(sub.id) is not sub:
                await close_stream(stream)  # stopped or closed during set-up
                return
            self.send(encode_result(sub.id, sub.jsonrpc, "started"))
            try:
                await runner.pump(call.path, stream, self._emitter(sub, call.path))
            except RPCError as err:
                self._send_call_error(request, err)
            self._finish(sub)
        except asyncio.CancelledError:
            # A stop (or the socket closing): `stopped` only if the socket is still open.
            self._finish(sub)
            raise

    def _emitter(self, sub: _Subscription, path: str) -> Callable[[Any], None]:
        """Encode and send one value of ``sub`` (payloads already encoded are spliced in)."""
        if self.engine.transformer is not None:
            return self._transformed_emitter(sub, path)
        prefix = sub.prefix
        subscriptions = self._subscriptions
        send = self.send

        def emit(value: Any) -> None:
            if subscriptions.get(sub.id) is not sub:
                raise StreamClosed  # stopped or closed: nothing more for this id (item 85)
            if isinstance(value, Tracked):
                send(prefix + tracked_body(value))
            elif value is UNDEFINED:
                send(encode_result(sub.id, sub.jsonrpc, "data"))
            else:
                send(encode_data(prefix, dumps(value)))

        return emit

    def _transformed_emitter(self, sub: _Subscription, path: str) -> Callable[[Any], None]:
        """As :meth:`_emitter`, through the transformer: a tracked event's ``data`` is the
        transformed ``{id, data}``, as tRPC's WebSocket adapter sends it."""
        transformer = self.engine.transformer
        assert transformer is not None
        dates = self.engine.output_dates(path)
        tracked_dates = None if dates is None else {"data": dates}
        prefix = sub.prefix
        subscriptions = self._subscriptions
        send = self.send
        last = _last_transformed

        def emit(value: Any) -> None:
            if subscriptions.get(sub.id) is not sub:
                raise StreamClosed
            if isinstance(value, Tracked):
                if last[0] is not value or last[1] != path:
                    event = {"id": value.id, "data": value.data}
                    body = dumps(transformer.serialize(event, tracked_dates))
                    last[:] = [value, path, body + b',"id":' + dumps(value.id) + b"}}"]
                send(prefix + last[2])
            else:
                send(encode_data(prefix, dumps(transformer.serialize(value, dates))))

        return emit

    def _finish(self, sub: _Subscription) -> None:
        if self._subscriptions.get(sub.id) is sub:
            del self._subscriptions[sub.id]
            self.send(encode_result(sub.id, sub.jsonrpc, "stopped"))

    def _stop(self, rid: Any) -> None:
        """``subscription.stop``: cancel, then ``stopped``; unknown ids are ignored."""
        for index, queued in enumerate(self._queued):
            if queued.id == rid and queued.method == "subscription":
                del self._queued[index]
                self.send(encode_result(rid, queued.jsonrpc, "stopped"))
                return
        sub = self._subscriptions.get(rid)
        if sub is None:
            return
        # Send `stopped` now: no data for this id may follow the client's stop (item 85).
        self._finish(sub)
        if sub.task is not None:
            sub.task.cancel()
