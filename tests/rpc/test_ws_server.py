"""The picows WebSocket server: real sockets, one frame at a time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest

from conformance.rawsocket import RawSocket, masked_frame
from support.net import free_port
from wirechat.rpc.errors import ErrorCode, RPCError
from wirechat.rpc.init import init_rpc
from wirechat.rpc.limits import Limits
from wirechat.rpc.router import Router
from wirechat.rpc.ws.server import WSServer
from wirechat.rpc.ws.session import CloseCode

from .support import make_engine

t = init_rpc(dict)


def build_router(state: dict[str, Any]) -> Router:
    async def echo(ctx: Any, value: Any) -> Any:
        return value

    async def flood(ctx: Any, value: Any) -> AsyncIterator[str]:
        """4 KiB events as fast as the socket takes them."""
        state["produced"] = 0
        try:
            while True:
                state["produced"] += 1
                yield "x" * 4096
                await asyncio.sleep(0)
        finally:
            state["flood_closed"] = True

    async def burst(ctx: Any, sizes: list[int]) -> AsyncIterator[str]:
        """Events of the given sizes in one turn of the loop (no await between them)."""
        for i, size in enumerate(sizes):
            yield str(i % 10) * size

    async def slow_query(ctx: Any, value: Any) -> Any:
        await asyncio.sleep(0.2)
        return "done"

    async def denied(ctx: Any, value: Any) -> Any:
        raise RPCError(ErrorCode.FORBIDDEN, "no")

    return Router(
        {
            "echo": t.procedure.input(Any).query(echo),
            "flood": t.procedure.subscription(flood),
            "burst": t.procedure.input(list[int]).subscription(burst),
            "slowQuery": t.procedure.query(slow_query),
            "denied": t.procedure.query(denied),
        }
    )


@pytest.fixture
async def served() -> AsyncIterator[tuple[WSServer, dict[str, Any]]]:
    state: dict[str, Any] = {}
    server = WSServer(
        make_engine(build_router(state)),
        port=free_port(),
        limits=Limits(max_message_bytes=64 * 1024, max_buffered_bytes=256 * 1024),
    )
    await server.start()
    try:
        yield server, state
    finally:
        await server.shutdown(grace=0.5)


def url(server: WSServer, query: str = "") -> str:
    return f"ws://127.0.0.1:{server.port}/{query}"


async def test_server_answers_a_query_frame(served: tuple[WSServer, dict[str, Any]]) -> None:
    server, _ = served
    sock = await RawSocket.connect(url(server))
    sock.send({"id": 1, "method": "query", "params": {"path": "echo", "input": {"a": 1}}})
    assert await sock.recv_json() == {"id": 1, "result": {"type": "data", "data": {"a": 1}}}
    sock.close()


async def test_frames_of_one_turn_go_out_together_each_intact_and_in_order(
    served: tuple[WSServer, dict[str, Any]],
) -> None:
    # Every header length a server frame can have (7-bit, 16-bit, 64-bit), around
    # each boundary; the JSON envelope adds ~50 bytes to each payload.
    server, _ = served
    sizes = [1, 60, 80, 125, 65_400, 65_530, 70_000, 3]
    sock = await RawSocket.connect(url(server))
    sock.send({"id": 1, "method": "subscription", "params": {"path": "burst", "input": sizes}})
    assert await sock.recv_json() == {"id": 1, "result": {"type": "started"}}
    for i, size in enumerate(sizes):
        frame = await sock.recv_json()
        assert frame == {"id": 1, "result": {"type": "data", "data": str(i % 10) * size}}
    assert await sock.recv_json() == {"id": 1, "result": {"type": "stopped"}}
    sock.send({"id": 2, "method": "query", "params": {"path": "echo", "input": "after"}})
    assert await sock.recv_json() == {"id": 2, "result": {"type": "data", "data": "after"}}
    sock.close()


class _Queued:
    """A connection with frames waiting: counts its writes."""

    def __init__(self) -> None:
        self.writes = 0

    def flush(self) -> None:
        self.writes += 1


async def test_a_call_answered_writes_at_once_when_few_connections_wait() -> None:
    """A chat message's frames go out as its call ends; a broadcast's wait for the end
    of the turn, where several events to one connection share one write."""
    server = WSServer(make_engine(build_router({})))
    room = [_Queued() for _ in range(6)]
    for connection in room:
        server.write_later(cast(Any, connection))
    server.call_answered()
    assert [c.writes for c in room] == [1] * 6
    crowd = [_Queued() for _ in range(33)]
    for connection in crowd:
        server.write_later(cast(Any, connection))
    server.call_answered()
    assert [c.writes for c in crowd] == [0] * 33
    await asyncio.sleep(0)  # the end of the turn
    assert [c.writes for c in crowd + room] == [1] * 39


async def test_server_reports_connections_opening_and_closing() -> None:
    changes: list[int] = []
    server = WSServer(make_engine(build_router({})), port=free_port(), on_change=changes.append)
    await server.start()
    try:
        sock = await RawSocket.connect(url(server))
        sock.close()
        await sock.closed()
        async with asyncio.timeout(2):
            while changes != [1, -1]:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
    finally:
        await server.shutdown(grace=0.5)


async def test_server_reassembles_a_fragmented_text_message(
    served: tuple[WSServer, dict[str, Any]],
) -> None:
    server, _ = served
    sock = await RawSocket.connect(url(server))
    text = b'{"id":2,"method":"query","params":{"path":"echo","input":"fragmented"}}'
    first = bytearray(masked_frame(text[:20], opcode=0x1))
    first[0] &= 0x7F  # not final
    last = masked_frame(text[20:], opcode=0x0)
    assert sock.transport is not None
    sock.transport.underlying_transport.write(bytes(first) + last)
    assert await sock.recv_json() == {"id": 2, "result": {"type": "data", "data": "fragmented"}}
    sock.close()


async def test_server_closes_1009_for_a_fragmented_message_over_the_limit(
    served: tuple[WSServer, dict[str, Any]],
) -> None:
    server, _ = served
    sock = await RawSocket.connect(url(server))
    assert sock.transport is not None
    for _ in range(3):
        part = bytearray(masked_frame(b"x" * 30_000, opcode=0x1 if _ == 0 else 0x0))
        part[0] &= 0x7F
        sock.transport.underlying_transport.write(bytes(part))
    assert await sock.closed() == CloseCode.MESSAGE_TOO_BIG


async def test_server_answers_a_binary_frame_with_parse_error(
    served: tuple[WSServer, dict[str, Any]],
) -> None:
    server, _ = served
    sock = await RawSocket.connect(url(server))
    sock.send_binary(b"\x00\x01")
    reply = await sock.recv_json()
    assert reply["id"] is None
    assert reply["error"]["data"]["code"] == "PARSE_ERROR"
    sock.close()


async def test_server_cuts_a_client_that_stops_reading_and_stops_its_stream(
    served: tuple[WSServer, dict[str, Any]],
) -> None:
    server, state = served
    sock = await RawSocket.connect(url(server))
    sock.pause()
    sock.send({"id": 1, "method": "subscription", "params": {"path": "flood"}})
    async with asyncio.timeout(20):
        while not state.get("flood_closed"):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    produced = state["produced"]
    await asyncio.sleep(0.2)
    assert state["produced"] == produced  # nothing more was built after the cut
    sock.resume()
    # Its unsent buffer (the close frame with it) was dropped: only the socket's end shows.
    assert await sock.closed(within=5) in (None, CloseCode.TRY_AGAIN_LATER)


async def test_shutdown_tells_clients_to_reconnect_after_calls_in_flight_finish() -> None:
    server = WSServer(make_engine(build_router({})), port=free_port())
    await server.start()
    sock = await RawSocket.connect(url(server))
    sock.send({"id": 7, "method": "query", "params": {"path": "slowQuery"}})
    await asyncio.sleep(0.05)
    await server.shutdown(grace=2.0)
    frames = [await sock.recv_json(), await sock.recv_json()]
    assert {"id": None, "method": "reconnect"} in frames
    assert {"id": 7, "result": {"type": "data", "data": "done"}} in frames
    assert await sock.closed() == CloseCode.SERVICE_RESTART


async def test_a_socket_upgraded_after_shutdown_began_is_told_to_reconnect() -> None:
    """Accepted before the listener closed, upgraded while the drain waits for a call:
    it gets no session (which would outlive the application) but 1012, and no frame."""
    server = WSServer(make_engine(build_router({})), port=free_port())
    await server.start()
    busy = await RawSocket.connect(url(server))
    busy.send({"id": 7, "method": "query", "params": {"path": "slowQuery"}})
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    await asyncio.sleep(0.05)  # accepted by the server, not upgraded yet
    stopping = asyncio.ensure_future(server.shutdown(grace=2.0))
    await asyncio.sleep(0.05)  # the drain waits for slowQuery
    assert not stopping.done()
    writer.write(
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    )
    async with asyncio.timeout(5):
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101")
        opcode, size = await reader.readexactly(2)
        payload = await reader.readexactly(size)
        assert await reader.read() == b""  # then the socket ends
        await stopping
    assert opcode == 0x88  # a close frame, first and only
    assert int.from_bytes(payload[:2], "big") == CloseCode.SERVICE_RESTART
    assert server.connections == set()
    writer.close()


async def test_server_refuses_a_port_in_use(served: tuple[WSServer, dict[str, Any]]) -> None:
    server, _ = served
    other = WSServer(make_engine(build_router({})), port=server.port)
    with pytest.raises(OSError):
        await other.start()
