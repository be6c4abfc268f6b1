"""A bare WebSocket client on picows for wire-level tests: frames in, frames out.

It answers the server's text ``PING`` with ``PONG`` (as the real client does)
unless ``auto_pong=False``, records the close code, and can write several
frames in one TCP write (``send_together``) or stop reading (``pause``).
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

__all__ = ["RawSocket", "masked_frame"]


def masked_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """One final client frame (RFC 6455 §5.2), masked as clients must."""
    mask = os.urandom(4)
    size = len(payload)
    if size < 126:
        header = bytes([0x80 | opcode, 0x80 | size])
    elif size < 65536:
        header = bytes([0x80 | opcode, 0x80 | 126]) + size.to_bytes(2, "big")
    else:
        header = bytes([0x80 | opcode, 0x80 | 127]) + size.to_bytes(8, "big")
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return header + mask + body


class _Listener(WSListener):
    def __init__(self, owner: RawSocket) -> None:
        self.owner = owner

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        owner = self.owner
        if frame.msg_type is WSMsgType.TEXT:
            text = frame.get_payload_as_utf8_text()
            if text == "PING":
                owner.pings += 1
                if owner.auto_pong:
                    transport.send(WSMsgType.TEXT, b"PONG")
                if not owner.keep_pings:
                    return
            owner.frames.put_nowait(text)
        elif frame.msg_type is WSMsgType.BINARY:
            owner.frames.put_nowait(frame.get_payload_as_bytes())
        elif frame.msg_type is WSMsgType.CLOSE:
            owner.close_code = frame.get_close_code()
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.owner.disconnected.set()


class RawSocket:
    def __init__(self, auto_pong: bool = True, keep_pings: bool = False) -> None:
        self.frames: asyncio.Queue[str | bytes] = asyncio.Queue()
        self.auto_pong = auto_pong
        self.keep_pings = keep_pings
        self.pings = 0
        self.close_code: Any = None
        self.disconnected = asyncio.Event()
        self.transport: WSTransport | None = None

    @classmethod
    async def connect(cls, url: str, **kwargs: Any) -> RawSocket:
        sock = cls(**kwargs)
        sock.transport, _ = await ws_connect(lambda: _Listener(sock), url)
        return sock

    def send(self, message: Any) -> None:
        """Send a text frame: str as is, anything else as JSON."""
        assert self.transport is not None
        text = message if isinstance(message, str) else json.dumps(message)
        self.transport.send(WSMsgType.TEXT, text.encode())

    def send_binary(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.send(WSMsgType.BINARY, data)

    def send_together(self, *messages: Any) -> None:
        """Several text frames in a single TCP write (so one server read sees them all)."""
        assert self.transport is not None
        raw = b"".join(
            masked_frame((m if isinstance(m, str) else json.dumps(m)).encode()) for m in messages
        )
        self.transport.underlying_transport.write(raw)

    async def recv(self, within: float = 2.0) -> str | bytes:
        return await asyncio.wait_for(self.frames.get(), within)

    async def recv_json(self, within: float = 2.0) -> Any:
        return json.loads(await self.recv(within))

    async def nothing(self, seconds: float = 0.2) -> None:
        """Assert that no frame arrives within ``seconds``."""
        try:
            frame = await asyncio.wait_for(self.frames.get(), seconds)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected frame {frame!r}")

    async def closed(self, within: float = 2.0) -> Any:
        await asyncio.wait_for(self.disconnected.wait(), within)
        return self.close_code

    def pause(self) -> None:
        assert self.transport is not None
        self.transport.underlying_transport.pause_reading()

    def resume(self) -> None:
        assert self.transport is not None
        self.transport.underlying_transport.resume_reading()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_disconnected:
            self.transport.send_close()
            self.transport.disconnect()
