"""Issue 11, point 1 (the chat's side): replaying a long room log does not stall the
server. One WebSocket frame carries 50 ``messages.onMessage`` subscriptions with
``lastEventId: "0"`` on a room of 10,000 events of 4,000-character texts; while they
replay, ``/health`` answers within 100 ms at p99."""

from __future__ import annotations

import asyncio
import base64
import os
import statistics
import struct
import time
from collections.abc import Callable

import httpx
import orjson
import pytest

from support.latency import allowed, p99, sample_health

from .clients import Api
from .conftest import Server

EVENTS = 10_000
TEXT = "x" * 4000


async def _fill(api: Api, token: str, room_id: int) -> None:
    """EVENTS messages, 50 per HTTP batch, a few batches at a time."""
    path = ",".join(["messages.send"] * 50)

    async def batch(start: int) -> None:
        body = {
            str(i): {"roomId": room_id, "text": f"{start + i:05d}{TEXT[5:]}"} for i in range(50)
        }
        response = await api.http.post(
            f"{api.trpc_url}/{path}?batch=1",
            content=orjson.dumps(body),
            headers={"content-type": "application/json", "authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, response.text[:300]

    for start in range(0, EVENTS, 200):
        await asyncio.gather(*(batch(start + k) for k in range(0, 200, 50)))


async def test_50_replays_of_a_long_log_in_one_frame_leave_health_responsive(
    db: tuple[str, str | None], start_server: Callable[..., Server]
) -> None:
    if db[0] != "sqlite":
        pytest.skip("SQLite reads on the event loop; PostgreSQL reads are awaited anyway")
    srv = start_server(RATE_LIMIT_MESSAGES="1000000")
    async with httpx.AsyncClient(timeout=60) as http:
        api = Api(srv.trpc_url, http)
        alice = await api.register("replay")
        room = await api.room(alice)
        await _fill(api, alice.token, room["id"])

        quiet = await sample_health(http, srv.http_url, 3)
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.ws_port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET /?token={alice.token} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        assert b" 101 " in await reader.readuntil(b"\r\n\r\n")
        frame = [
            {
                "id": i,
                "method": "subscription",
                "params": {
                    "path": "messages.onMessage",
                    "input": {"roomId": room["id"]},
                    "lastEventId": "0",
                },
            }
            for i in range(50)
        ]
        # One masked text frame; then the attacker never reads again.
        payload = orjson.dumps(frame)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        writer.write(bytes([0x81, 0x80 | 126]) + struct.pack("!H", len(payload)) + mask + masked)
        await writer.drain()

        health: list[float] = []
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            started = time.perf_counter()
            assert (await http.get(f"{srv.http_url}/health")).status_code == 200
            health.append(time.perf_counter() - started)
            await asyncio.sleep(0.02)
        writer.close()
    srv.assert_alive()
    print(
        f"\nreplay attack: 50 x {EVENTS} events of {len(TEXT)} chars; /health "
        f"p50 {statistics.median(health) * 1000:.1f} ms p99 {p99(health) * 1000:.1f} ms "
        f"max {max(health) * 1000:.1f} ms over {len(health)}"
    )
    print(f"quiet machine: /health p99 {p99(quiet) * 1000:.1f} ms")
    assert p99(health) < allowed(0.100, p99(quiet))
