"""The standalone WebSocket server for WS_PORT, on picows.

picows was chosen by measurement: it broadcasts at a fraction of the CPU of the
ASGI WebSocket servers (see bench/). This module only moves frames between
picows and :class:`WSSession` (which enforces the limits): it reassembles
fragmented messages, reports the socket's unsent bytes, runs the keep-alive
timer and drains connections on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from picows import (
    WSCloseCode,
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    ws_create_server,
)

from ..context import RequestInfo
from ..engine import Engine
from ..limits import Limits
from .memory import Shrinkable, WaveRelease, release_memory
from .session import SHUTTING_DOWN, CloseCode, WSSession

__all__ = ["WSServer"]

logger = logging.getLogger("wirechat.ws")

_PICOWS_LOGGER = logging.LoggerAdapter(logging.getLogger("picows.server"))
_READ_BUFFER_BYTES = 2048  # picows' minimum
# At most this many connections with frames waiting are written to as soon as a call
# ends (see WSServer.call_answered); a chat room is well under it.
_EARLY_WRITE_CONNECTIONS = 32


class _Connection(WSListener):
    """One socket: picows callbacks in, :class:`WSSession` calls out.

    Slots and lazily made buffers: an idle subscribed connection is what a chat
    server holds most of, so every attribute here is multiplied by the connections.
    """

    __slots__ = (
        "_fragment_bytes",
        "_fragment_type",
        "_fragments",
        "_pending",
        "_release",
        "opened_at",
        "peer",
        "request",
        "server",
        "session",
        "transport",
    )

    def __init__(self, server: WSServer, request: WSUpgradeRequest) -> None:
        self.server = server
        self.request: WSUpgradeRequest | None = request
        self.transport: WSTransport | None = None
        self.session: WSSession | None = None
        self.peer = "?"
        self.opened_at = time.monotonic()
        self._fragments: list[bytes] | None = None
        self._fragment_bytes = 0
        self._fragment_type = WSMsgType.TEXT
        self._release: Callable[[], None] | None = None
        self._pending: list[bytes] | None = None
        """Frames sent during this turn of the event loop, written together after it."""

    # picows callbacks ------------------------------------------------------------

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        tcp = transport.underlying_transport
        peer = tcp.get_extra_info("peername")
        if peer:
            self.peer = f"{peer[0]}:{peer[1]}"
        request, self.request = self.request, None  # its headers live on in `info`
        if self.server.stopping:
            # Accepted before the listener closed, upgraded after the drain began: a
            # session now would outlive the database and broker it needs. The client
            # reconnects, as the drained ones do.
            transport.send_close(WSCloseCode(CloseCode.SERVICE_RESTART), SHUTTING_DOWN.encode())
            transport.disconnect()
            return
        assert request is not None
        raw_path = request.path.decode("latin-1")
        query = dict(parse_qsl(raw_path.partition("?")[2], keep_blank_values=True))
        headers = {k.lower(): v for k, v in request.headers.items()}
        info = RequestInfo("ws", headers, query, self.peer)
        if self.server.admit is not None:
            self._release = self.server.admit(info)
            if self._release is None:
                # Over a connection cap: a clear code, and no session is ever built.
                transport.send_close(WSCloseCode.TRY_AGAIN_LATER, b"too many connections")
                transport.disconnect()
                return
        self.session = WSSession(
            self.server.engine,
            info,
            self._send,
            self._close,
            limits=self.server.limits,
            expect_connection_params=query.get("connectionParams") == "1",
            buffered=tcp.get_write_buffer_size,
            answered=self.server.call_answered,
        )
        self.server.connections.add(self)
        logger.info("WebSocket connected peer=%s", self.peer)
        self.server.on_change(+1)
        self.session.start()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        session = self.session
        if session is None:
            return
        msg_type = frame.msg_type
        if msg_type is WSMsgType.TEXT and frame.fin and self._fragments is None:
            session.receive_text(frame.get_payload_as_bytes())
        elif msg_type in (WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION):
            self._assemble(session, frame)
        elif msg_type is WSMsgType.CLOSE:
            # Echo the client's code; a close without one reads as NO_INFO (0), which is
            # no valid code to send back (clients then drop the socket as 1006): say 1000.
            code = frame.get_close_code()
            transport.send_close(code if code != WSCloseCode.NO_INFO else WSCloseCode.OK)
            transport.disconnect()
        elif msg_type is WSMsgType.PONG:
            session.last_inbound = time.monotonic()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self._pending = None
        self.server.connections.discard(self)
        if self._release is not None:
            self._release()
            self._release = None
        session = self.session
        if session is None:
            return
        self.server.on_change(-1)
        handshake = transport.close_handshake
        code = handshake.recv.code.value if handshake and handshake.recv else 1006
        logger.info(
            "WebSocket disconnected peer=%s code=%s after=%.1fs",
            self.peer,
            code,
            time.monotonic() - self.opened_at,
        )
        task = asyncio.ensure_future(session.aclose())
        self.server.closing.add(task)
        task.add_done_callback(self.server.closing.discard)

    # helpers ------------------------------------------------------------------------

    def _assemble(self, session: WSSession, frame: WSFrame) -> None:
        """Reassemble a fragmented message (RFC 6455 §5.4) within the size limit."""
        if frame.msg_type is not WSMsgType.CONTINUATION:
            self._fragments = []
            self._fragment_bytes = 0
            self._fragment_type = frame.msg_type
        elif self._fragments is None:
            self._fragments = []
        payload = frame.get_payload_as_bytes()
        self._fragment_bytes += len(payload)
        if self._fragment_bytes > self.server.limits.max_message_bytes:
            # Found before the whole message is buffered.
            self._fragments = None
            session.message_too_big()
            return
        self._fragments.append(payload)
        if not frame.fin:
            return
        data = b"".join(self._fragments)
        self._fragments = None
        self._fragment_bytes = 0
        if self._fragment_type is WSMsgType.TEXT:
            session.receive_text(data)
        else:
            session.receive_binary(len(data))

    def _send(self, data: bytes | str) -> None:
        """Queue a text frame; the frames of one turn of the loop go out in one write.

        A broadcast hands each connection its frames one event at a time, and several
        events often fan out in the same turn; on loopback and on a busy server the
        system call, not the frame, is the cost of a delivery.
        """
        if self.transport is None:
            return
        frame = data.encode() if isinstance(data, str) else data
        if self._pending is None:
            self._pending = [frame]
            self.server.write_later(self)
        else:
            self._pending.append(frame)

    def flush(self) -> None:
        """Write the queued frames: one frame through picows, several joined by hand
        (a server's frame is a two- to ten-byte header and the payload, unmasked)."""
        pending, self._pending = self._pending, None
        transport = self.transport
        if not pending or transport is None or transport.is_disconnected:
            return
        if len(pending) == 1:
            transport.send(WSMsgType.TEXT, pending[0])
            return
        parts: list[bytes] = []
        for payload in pending:
            size = len(payload)
            if size < 126:
                parts.append(bytes((0x81, size)))
            elif size < 65536:
                parts.append(b"\x81\x7e" + size.to_bytes(2, "big"))
            else:
                parts.append(b"\x81\x7f" + size.to_bytes(8, "big"))
            parts.append(payload)
        transport.underlying_transport.write(b"".join(parts))

    def _close(self, code: int, reason: str) -> None:
        transport = self.transport
        if transport is None or transport.is_disconnected:
            return
        if code != CloseCode.TRY_AGAIN_LATER:
            self.flush()  # what was sent before the close goes out before it
        else:
            self._pending = None
        transport.send_close(WSCloseCode(code), reason.encode())
        # Too slow: free its unsent buffer now rather than flush it.
        transport.disconnect(graceful=code != CloseCode.TRY_AGAIN_LATER)


class WSServer:
    """Serves tRPC over WebSocket on ``host:port`` for an :class:`Engine`."""

    def __init__(
        self,
        engine: Engine[Any],
        *,
        host: str = "127.0.0.1",
        port: int = 3001,
        limits: Limits | None = None,
        on_change: Callable[[int], None] = lambda delta: None,
        handshake_timeout: float | None = 10.0,
        admit: Callable[[RequestInfo], Callable[[], None] | None] | None = None,
        tables: Callable[[], Iterable[Shrinkable]] = tuple,
    ) -> None:
        """``admit(info)`` is asked for each new connection: it returns the function to
        call when the connection ends, or None to refuse it (close 1013). ``tables()``
        names the application's sets and dicts with an entry per connection, shrunk
        after a wave of disconnects (:mod:`.memory`)."""
        self.engine = engine
        self.handshake_timeout = handshake_timeout
        self.admit = admit
        self.host = host
        self.port = port
        self.limits = limits or Limits()
        self.on_change = on_change
        self.connections: set[_Connection] = set()
        self.closing: set[asyncio.Task[None]] = set()
        self.stopping = False
        """Set by :meth:`shutdown`: no new session from then on."""
        self._server: asyncio.Server | None = None
        self._keepalive_task: asyncio.Task[None] | None = None
        self._unflushed: list[_Connection] = []
        self.tables = tables
        self.wave_release = WaveRelease()

    def write_later(self, connection: _Connection) -> None:
        """Flush ``connection``'s frames once this turn of the event loop is done."""
        if not self._unflushed:
            asyncio.get_running_loop().call_soon(self._flush)
        self._unflushed.append(connection)

    def call_answered(self) -> None:
        """A call has queued its answer: write now if only a few connections wait.

        A message to a chat room queues a frame for each member and the sender's
        answer. Written as the call ends, they reach the clients while this loop runs
        the next call, instead of after every call of the turn. Past a few
        connections (a broadcast) they wait for the end of the turn, where several
        events to one connection share one write.
        """
        if len(self._unflushed) <= _EARLY_WRITE_CONNECTIONS:
            self._flush()

    def _flush(self) -> None:
        connections, self._unflushed = self._unflushed, []
        for connection in connections:
            connection.flush()

    async def start(self) -> None:
        """Listen; raises OSError when the port is taken."""
        self._server = await ws_create_server(
            lambda request: _Connection(self, request),
            self.host,
            self.port,
            # A frame over the message limit is refused by picows with 1009.
            max_frame_size=self.limits.max_message_bytes,
            enable_auto_pong=True,
            websocket_handshake_timeout=self.handshake_timeout,
            # Memory per connection (docs/capacity.md): picows' default 16 KiB read
            # buffer is mostly idle under a chat client's small frames; it grows on demand.
            read_buffer_init_size=_READ_BUFFER_BYTES,
            # A Logger (not an adapter) makes picows build one child Logger per socket.
            logger_name=_PICOWS_LOGGER,
            # uvloop's own TCP transport: aiofastnet's (picows' default when installed)
            # holds ~5 KiB more per socket (a Python socket, an extra-info dict, a
            # deque, a poll handle) at no measured gain in fan-out CPU.
            use_aiofastnet=False,
            backlog=2048,
        )
        sock = self._server.sockets[0].getsockname() if self._server.sockets else None
        if sock is not None:
            self.port = sock[1]
        if self.limits.ping_interval is not None:
            self._keepalive_task = asyncio.ensure_future(self._keepalive())

    async def _keepalive(self) -> None:
        assert self.limits.ping_interval is not None
        tick = min(self.limits.ping_interval, self.limits.pong_timeout) / 5
        while True:
            await asyncio.sleep(min(tick, 1.0))
            now = time.monotonic()
            for conn in list(self.connections):
                if conn.session is not None:
                    conn.session.keepalive(now)
            if self.wave_release.observe(len(self.connections), now, len(self.closing)):
                shrunk = await release_memory((self.connections, self.closing, *self.tables()))
                logger.info("memory released; %d tables shrunk", shrunk)

    async def shutdown(self, grace: float = 3.0) -> None:
        """Stop accepting, send every client ``reconnect``, let calls in flight finish,
        close every socket and wait for their subscriptions to end."""
        self.stopping = True
        if self._server is not None:
            self._server.close()
        if self._keepalive_task is not None:
            self._keepalive_task.cancel()
        sessions = [c.session for c in list(self.connections) if c.session is not None]
        if sessions:
            await asyncio.gather(*(s.drain(grace) for s in sessions))
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.disconnect(graceful=False)
        if self.closing:
            await asyncio.wait(set(self.closing), timeout=grace)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
