"""Issue 11, points 3 and 4: slow headers are cut, connections are capped overall and per
address on both ports, and one WebSocket cannot have any number of calls in flight."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from .clients import WSClient
from .conftest import Server

_PARTIAL_HTTP = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: "
_PARTIAL_UPGRADE = (
    b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Slow: "
)


async def _open_slow(
    port: int, partial: bytes
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, float]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(partial)
    await writer.drain()
    return reader, writer, time.monotonic()


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> bytes:
    """Everything the server sent before closing; fails if still open after ``seconds``."""
    data = await asyncio.wait_for(reader.read(), seconds)
    return data


async def test_300_connections_with_unfinished_headers_are_closed_after_the_timeout(
    db: tuple[str, str | None], start_server: Callable[..., Server]
) -> None:
    if db[0] != "sqlite":
        pytest.skip("no database involved")
    srv = start_server(HEADER_TIMEOUT_SECONDS="2", MAX_CONNECTIONS_PER_IP="1000")
    for port, partial in ((srv.port, _PARTIAL_HTTP), (srv.ws_port, _PARTIAL_UPGRADE)):
        opened = await asyncio.gather(*(_open_slow(port, partial) for _ in range(300)))
        answers = await asyncio.gather(*(_closed_within(r, 30) for r, _, _ in opened))
        took = time.monotonic() - min(at for _, _, at in opened)
        for _, writer, _ in opened:
            writer.close()
        print(f"\nport {port}: 300 slow-header connections closed within {took:.1f} s")
        assert took >= 1.5, f"closed before the timeout: {set(answers)}"
        if port == srv.port:
            assert all(a.startswith(b"HTTP/1.1 408 ") for a in answers), set(answers)
    srv.assert_alive()


async def _http_keepalive(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    return reader, writer


async def test_connections_over_the_per_address_cap_are_refused_on_both_ports(
    db: tuple[str, str | None], start_server: Callable[..., Server]
) -> None:
    if db[0] != "sqlite":
        pytest.skip("no database involved")
    srv = start_server(MAX_CONNECTIONS_PER_IP="5", FORWARDED_ALLOW_IPS="")
    held = [await _http_keepalive(srv.port) for _ in range(5)]
    for reader, _ in held:
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200 ")
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    refused = await _closed_within(reader, 10)
    assert refused.startswith(b"HTTP/1.1 503 "), refused
    assert b"too many connections" in refused
    writer.close()

    sockets = [await WSClient.connect(srv.ws_url) for _ in range(5)]
    over = await WSClient.connect(srv.ws_url)
    await asyncio.wait_for(over.closed.wait(), 10)
    assert over.close_code == 1013
    # Freed slots are given again.
    await sockets.pop().close()
    for _ in range(50):
        again = await WSClient.connect(srv.ws_url)
        await asyncio.sleep(0.2)
        if not again.closed.is_set():
            break
        await again.close()
    assert not again.closed.is_set()
    for client in [*sockets, over, again]:
        await client.close()
    for _, held_writer in held:
        held_writer.close()
    srv.assert_alive()


async def test_a_trusted_proxy_is_held_to_the_overall_cap_only(
    db: tuple[str, str | None], start_server: Callable[..., Server]
) -> None:
    if db[0] != "sqlite":
        pytest.skip("no database involved")
    srv = start_server(
        MAX_CONNECTIONS_PER_IP="2", MAX_CONNECTIONS="4", FORWARDED_ALLOW_IPS="127.0.0.1"
    )
    held = [await _http_keepalive(srv.port) for _ in range(4)]
    for reader, _ in held:
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200 ")
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    assert (await _closed_within(reader, 10)).startswith(b"HTTP/1.1 503 ")
    writer.close()
    for _, held_writer in held:
        held_writer.close()


async def test_calls_over_the_in_flight_cap_on_one_socket_are_too_many_requests(
    db: tuple[str, str | None], start_server: Callable[..., Server]
) -> None:
    if db[0] != "sqlite":
        pytest.skip("no database involved")
    srv = start_server(MAX_CALLS_PER_CONNECTION="4")
    client = await WSClient.connect(srv.ws_url)
    try:
        batch = [
            {
                "id": i,
                "method": "mutation",
                "params": {
                    "path": "auth.login",
                    "input": {"username": f"nobody_{i}", "password": "not-this-one"},
                },
            }
            for i in range(10)
        ]
        await client.send_json(batch)
        codes: dict[int, str] = {}
        while len(codes) < 10:
            item = await asyncio.wait_for(client.notifications.get(), 15)
            codes[item["id"]] = item["error"]["data"]["code"]
        assert [codes[i] for i in range(10)] == ["UNAUTHORIZED"] * 4 + ["TOO_MANY_REQUESTS"] * 6
        # The socket stays usable once the calls are done.
        with pytest.raises(Exception, match="UNAUTHORIZED"):
            await client.call("auth.login", {"username": "nobody", "password": "not-this-one"})
    finally:
        await client.close()
