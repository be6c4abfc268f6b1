"""A TCP relay between the client and a server that can cut every connection at once.

:meth:`Relay.cut` aborts both halves of every relayed connection (an RST to each side),
which is what the client sees when the server's socket is killed; new connections
are relayed as before.
"""

from __future__ import annotations

import asyncio
import contextlib

from support.net import free_port

__all__ = ["Relay"]


class _Pipe(asyncio.Protocol):
    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.transport: asyncio.Transport | None = None
        self.peer: _Pipe | None = None
        self.pending: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.relay.pipes.add(self)

    def data_received(self, data: bytes) -> None:
        peer = self.peer
        if peer is not None and peer.transport is not None:
            peer.transport.write(data)
        else:
            self.pending.append(data)

    def connect(self, peer: _Pipe) -> None:
        self.peer = peer
        assert peer.transport is not None
        for data in self.pending:
            peer.transport.write(data)
        self.pending.clear()

    def connection_lost(self, exc: Exception | None) -> None:
        self.relay.pipes.discard(self)
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class Relay:
    """Listens on ``port`` and forwards to ``127.0.0.1:upstream``."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.pipes: set[_Pipe] = set()
        self.cuts = 0
        self._server: asyncio.Server | None = None
        self._dialing: set[asyncio.Task[None]] = set()

    async def start(self) -> Relay:
        loop = asyncio.get_running_loop()

        def accept() -> _Pipe:
            inbound = _Pipe(self)
            task = loop.create_task(self._dial(inbound))
            self._dialing.add(task)
            task.add_done_callback(self._dialing.discard)
            return inbound

        self._server = await loop.create_server(accept, "127.0.0.1", self.port)
        return self

    async def _dial(self, inbound: _Pipe) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, outbound = await loop.create_connection(
                lambda: _Pipe(self), "127.0.0.1", self.upstream
            )
        except OSError:
            inbound.abort()
            return
        if inbound.transport is None or inbound.transport.is_closing():
            outbound.abort()
            return
        outbound.connect(inbound)
        inbound.connect(outbound)

    def cut(self) -> int:
        """Abort every relayed connection; returns how many there were."""
        pipes = list(self.pipes)
        for pipe in pipes:
            pipe.abort()
        self.cuts += 1
        return len(pipes)

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
            self.cut()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
