"""Which libraries wirechat.client stands on: a short measurement against a live server.

    .venv/bin/python bench/client_transports.py --url http://127.0.0.1:3000/trpc \
        --ws-url ws://127.0.0.1:3001 --token <JWT>

HTTP: the same httpBatchLink GET (10 x ``auth.me``) sent back to back by 8 concurrent
workers with httpx and with aiohttp; calls/s and client CPU per call. WebSocket: the same
``auth.me`` query, one at a time, over picows and over ``websockets``; round trip and
client CPU per call. Libraries that are not installed are skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from socket import IPPROTO_TCP, TCP_NODELAY
from urllib.parse import quote

import orjson

BATCH = 10


def batch_url(base: str) -> str:
    return f"{base}/{','.join(['auth.me'] * BATCH)}?batch=1&input={quote('{}')}"


async def measure(
    label: str, call: Callable[[], Awaitable[None]], calls_per: int, seconds: float, workers: int
) -> None:
    for _ in range(20):
        await call()  # warm-up
    done = 0
    deadline = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal done
        while time.monotonic() < deadline:
            await call()
            done += calls_per

    cpu, wall = time.process_time(), time.monotonic()
    await asyncio.gather(*(worker() for _ in range(workers)))
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    print(
        f"{label:<28} {done / wall:>10,.0f} calls/s {cpu / done * 1e6:>8.1f} us CPU/call"
        f" {wall / done * workers * calls_per * 1e3:>7.2f} ms/request"
    )


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--ws-url", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--seconds", type=float, default=4.0)
    args = ap.parse_args()
    headers = {"authorization": f"Bearer {args.token}"}
    url = batch_url(args.url)

    import httpx

    async with httpx.AsyncClient(headers=headers) as client:

        async def httpx_call() -> None:
            assert len(orjson.loads((await client.get(url)).content)) == BATCH

        await measure("HTTP batch x10, httpx", httpx_call, BATCH, args.seconds, 8)
    # httpcore leaves Nagle's algorithm on: small requests then wait for delayed ACKs.
    nodelay = httpx.AsyncHTTPTransport(socket_options=[(IPPROTO_TCP, TCP_NODELAY, 1)])
    async with httpx.AsyncClient(headers=headers, transport=nodelay) as client:

        async def httpx_nodelay_call() -> None:
            assert len(orjson.loads((await client.get(url)).content)) == BATCH

        await measure("HTTP batch x10, httpx NODELAY", httpx_nodelay_call, BATCH, args.seconds, 8)
    try:
        import aiohttp
    except ImportError:
        print("aiohttp not installed: skipped")
    else:
        async with aiohttp.ClientSession(headers=headers) as session:

            async def aiohttp_call() -> None:
                async with session.get(url) as response:
                    assert len(orjson.loads(await response.read())) == BATCH

            await measure("HTTP batch x10, aiohttp", aiohttp_call, BATCH, args.seconds, 8)

    request = {"id": 1, "method": "query", "params": {"path": "auth.me"}}
    ws_url = args.ws_url + "?connectionParams=1"
    hello = orjson.dumps({"method": "connectionParams", "data": {"token": args.token}})

    from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

    class Listener(WSListener):
        waiter: asyncio.Future[bytes] | None = None

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if self.waiter is not None and frame.msg_type is WSMsgType.TEXT:
                self.waiter.set_result(frame.get_payload_as_bytes())
                self.waiter = None

    transport, listener = await ws_connect(Listener, ws_url)
    transport.send(WSMsgType.TEXT, hello)
    loop = asyncio.get_running_loop()

    async def picows_call() -> None:
        listener.waiter = loop.create_future()
        transport.send(WSMsgType.TEXT, orjson.dumps(request))
        assert "result" in orjson.loads(await listener.waiter)

    await measure("WS query round trip, picows", picows_call, 1, args.seconds, 1)
    transport.disconnect()
    try:
        import websockets
    except ImportError:
        print("websockets not installed: skipped")
    else:
        async with websockets.connect(ws_url, compression=None) as ws:
            await ws.send(hello.decode())

            async def websockets_call() -> None:
                await ws.send(orjson.dumps(request).decode())
                assert "result" in orjson.loads(await ws.recv())

            await measure("WS query round trip, websockets", websockets_call, 1, args.seconds, 1)


if __name__ == "__main__":
    asyncio.run(main())
