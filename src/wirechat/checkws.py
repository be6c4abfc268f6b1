"""``wirechat check-ws``: perform the upgrade handshake and one PING/PONG, and say so."""

from __future__ import annotations

import asyncio
import time

from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

__all__ = ["check_ws"]


class _Probe(WSListener):
    def __init__(self) -> None:
        self.reply: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is WSMsgType.TEXT and not self.reply.done():
            self.reply.set_result(frame.get_payload_as_utf8_text())


async def check_ws(url: str, wait: float = 5.0) -> int:
    """Returns 0 when the server upgraded the connection and answered PING with PONG."""
    started = time.perf_counter()
    try:
        transport, probe = await asyncio.wait_for(ws_connect(_Probe, url), wait)
    except Exception as exc:
        print(f"FAIL upgrade to {url}: {exc}")
        return 1
    response = transport.response
    print(f"OK   upgrade to {url}: HTTP {int(response.status)} {response.status.phrase}")
    for name in ("upgrade", "connection", "sec-websocket-accept", "sec-websocket-extensions"):
        if name in response.headers:
            print(f"     {name}: {response.headers[name]}")
    transport.send(WSMsgType.TEXT, b"PING")
    try:
        assert isinstance(probe, _Probe)
        reply = await asyncio.wait_for(probe.reply, wait)
    except TimeoutError:
        print("FAIL no answer to PING")
        return 1
    finally:
        transport.send_close()
        transport.disconnect()
    elapsed = (time.perf_counter() - started) * 1000
    if reply != "PONG":
        print(f"FAIL expected PONG, got {reply[:80]!r}")
        return 1
    print(f"OK   PING -> PONG ({elapsed:.1f} ms round trip including handshake)")
    return 0
