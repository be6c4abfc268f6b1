"""Minimal, cheap tRPC v11 clients for the load generator.

* HttpConn: one HTTP/1.1 keep-alive connection on a raw asyncio Protocol (Content-Length and
  chunked bodies), so the generator spends microseconds, not milliseconds, per request.
* TrpcWs: the tRPC WebSocket protocol over picows (connectionParams first message, numbered
  requests, subscriptions with started/data/stopped, lastEventId resume, PING -> PONG).
  A `sink(bytes) -> bool` hook lets a workload consume subscription frames without parsing JSON.
"""

# ruff: noqa: ASYNC109  (explicit per-call timeouts are the point here)
from __future__ import annotations

import asyncio
import contextlib
import urllib.parse
from collections.abc import Callable
from typing import Any

import orjson
from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect


class TrpcError(Exception):
    def __init__(self, error: Any):
        self.error = error
        code = error.get("data", {}).get("code") if isinstance(error, dict) else None
        msg = error.get("message") if isinstance(error, dict) else str(error)
        super().__init__(f"{code}: {msg}")


# --------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------
class HttpConn(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.closed = False

    @classmethod
    async def open(cls, host: str, port: int) -> HttpConn:
        loop = asyncio.get_running_loop()
        _, proto = await asyncio.wait_for(loop.create_connection(cls, host, port), 30)
        return proto

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection closed"))
        self.waiter = None

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.waiter is not None:
            self._parse()

    def _parse(self) -> None:
        buf = self.buf
        hend = buf.find(b"\r\n\r\n")
        if hend < 0:
            return
        head = bytes(buf[:hend]).split(b"\r\n")
        status = int(head[0].split(b" ", 2)[1])
        length = -1
        chunked = False
        for line in head[1:]:
            k, _, v = line.partition(b":")
            k = k.strip().lower()
            if k == b"content-length":
                length = int(v)
            elif k == b"transfer-encoding" and b"chunked" in v.lower():
                chunked = True
        pos = hend + 4
        if chunked:
            parts: list[bytes] = []
            for _ in range(1_000_000):
                le = buf.find(b"\r\n", pos)
                if le < 0:
                    return
                size = int(bytes(buf[pos:le]).split(b";")[0], 16)
                if size == 0:  # last chunk, then an empty trailer line (no trailers expected)
                    if len(buf) < le + 4:
                        return
                    end = le + 4
                    body = b"".join(parts)
                    break
                if len(buf) < le + 2 + size + 2:
                    return
                parts.append(bytes(buf[le + 2 : le + 2 + size]))
                pos = le + 2 + size + 2
            else:
                raise RuntimeError("too many chunks")
        else:
            if length < 0:
                length = 0
            if len(buf) < pos + length:
                return
            body = bytes(buf[pos : pos + length])
            end = pos + length
        del buf[:end]
        w, self.waiter = self.waiter, None
        if w is not None and not w.done():
            w.set_result((status, body))

    async def request(self, raw: bytes, timeout: float = 30) -> tuple[int, bytes]:
        if self.closed or self.transport is None:
            raise ConnectionError("connection closed")
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await asyncio.wait_for(self.waiter, timeout)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def http_get_raw(host: str, port: int, path: str, headers: dict[str, str] | None = None) -> bytes:
    h = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    return f"GET {path} HTTP/1.1\r\nhost: {host}:{port}\r\n{h}\r\n".encode()


def http_post_raw(
    host: str, port: int, path: str, body: bytes, headers: dict[str, str] | None = None
) -> bytes:
    h = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    return (
        f"POST {path} HTTP/1.1\r\nhost: {host}:{port}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n{h}\r\n"
    ).encode() + body


def batch_get_path(calls: list[tuple[str, Any]]) -> str:
    """The URL httpBatchLink builds for a batch of queries."""
    paths = ",".join(p for p, _ in calls)
    inputs = {str(i): inp for i, (_, inp) in enumerate(calls) if inp is not None}
    enc = urllib.parse.quote(orjson.dumps(inputs).decode(), safe="")
    return f"/trpc/{paths}?batch=1&input={enc}"


class HttpPool:
    """A few keep-alive connections for setup calls (register, create, join, send)."""

    def __init__(self, host: str, port: int, size: int = 8):
        self.host, self.port, self.size = host, port, size
        self.free: asyncio.Queue[HttpConn] = asyncio.Queue()
        self.opened = 0

    async def _get(self) -> HttpConn:
        if self.free.empty() and self.opened < self.size:
            self.opened += 1
            return await HttpConn.open(self.host, self.port)
        return await asyncio.wait_for(self.free.get(), 60)

    async def call(self, kind: str, path: str, inp: Any = None, token: str | None = None) -> Any:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        if kind == "mutation":
            body = b"" if inp is None else orjson.dumps(inp)
            raw = http_post_raw(self.host, self.port, f"/trpc/{path}", body, headers)
        else:
            q = (
                ""
                if inp is None
                else "?input=" + urllib.parse.quote(orjson.dumps(inp).decode(), safe="")
            )
            raw = http_get_raw(self.host, self.port, f"/trpc/{path}{q}", headers)
        conn = await self._get()
        try:
            _status, body = await conn.request(raw)
        except BaseException:
            conn.close()
            self.opened -= 1
            raise
        if conn.closed:
            self.opened -= 1
        else:
            self.free.put_nowait(conn)
        msg = orjson.loads(body)
        if "error" in msg:
            raise TrpcError(msg["error"])
        return msg["result"].get("data")

    def close(self) -> None:
        while not self.free.empty():
            self.free.get_nowait().close()


# --------------------------------------------------------------------------------------------
# WebSocket
# --------------------------------------------------------------------------------------------
class Sub:
    __slots__ = ("error", "id", "on_data", "started", "stopped")

    def __init__(self, sid: int, on_data: Callable[[dict[str, Any]], None] | None):
        loop = asyncio.get_running_loop()
        self.id = sid
        self.on_data = on_data
        self.started: asyncio.Future[None] = loop.create_future()
        self.stopped = False
        self.error: Any = None


class TrpcWs(WSListener):
    """One tRPC WebSocket connection (as createWSClient + wsLink would use it)."""

    def __init__(self, token: str | None, sink: Callable[[bytes], bool] | None = None):
        self.token = token
        self.sink = sink
        self.transport: WSTransport | None = None
        self.next_id = 1
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.subs: dict[int, Sub] = {}
        self.null_errors = 0
        self.disconnected = False

    @classmethod
    async def connect(
        cls, url: str, token: str | None, sink: Callable[[bytes], bool] | None = None
    ) -> TrpcWs:
        full = url + ("?connectionParams=1" if token is not None else "")
        _transport, listener = await ws_connect(
            lambda: cls(token, sink),
            full,
            websocket_handshake_timeout=60,
            enable_auto_pong=True,
            max_frame_size=64 * 1024 * 1024,
        )
        return listener  # type: ignore[return-value]

    # picows callbacks ---------------------------------------------------------------------
    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        if self.token is not None:
            transport.send(
                WSMsgType.TEXT,
                orjson.dumps({"method": "connectionParams", "data": {"token": self.token}}),
            )

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        mt = frame.msg_type
        if mt is WSMsgType.TEXT:
            data = frame.get_payload_as_bytes()
            sink = self.sink
            if sink is not None and sink(data):
                return
            if data == b"PING":
                transport.send(WSMsgType.TEXT, b"PONG")
                return
            if data == b"PONG":
                return
            msg = orjson.loads(data)
            if isinstance(msg, list):
                for m in msg:
                    self._handle(m)
            else:
                self._handle(msg)
        elif mt is WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.disconnected = True
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(ConnectionError("websocket closed"))
        self.pending.clear()
        for sub in self.subs.values():
            if not sub.started.done():
                sub.started.set_exception(ConnectionError("websocket closed"))

    def _handle(self, msg: dict[str, Any]) -> None:
        rid = msg.get("id")
        if rid is None:
            self.null_errors += "error" in msg
            return
        fut = self.pending.pop(rid, None)
        if fut is not None:
            if fut.done():
                return
            if "error" in msg:
                fut.set_exception(TrpcError(msg["error"]))
            else:
                fut.set_result(msg["result"].get("data"))
            return
        sub = self.subs.get(rid)
        if sub is None:
            return
        if "error" in msg:
            sub.error = msg["error"]
            if not sub.started.done():
                sub.started.set_exception(TrpcError(msg["error"]))
            return
        res = msg.get("result") or {}
        typ = res.get("type")
        if typ == "data":
            if sub.on_data is not None:
                sub.on_data(res)
        elif typ == "started":
            if not sub.started.done():
                sub.started.set_result(None)
        elif typ == "stopped":
            sub.stopped = True
            self.subs.pop(rid, None)

    # requests -----------------------------------------------------------------------------
    def send_json(self, obj: Any) -> None:
        assert self.transport is not None
        self.transport.send(WSMsgType.TEXT, orjson.dumps(obj))

    def call_nowait(self, method: str, path: str, inp: Any = None) -> asyncio.Future[Any]:
        rid = self.next_id
        self.next_id += 1
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.disconnected:
            fut.set_exception(ConnectionError("websocket closed"))
            return fut
        self.pending[rid] = fut
        params: dict[str, Any] = {"path": path}
        if inp is not None:
            params["input"] = inp
        self.send_json({"id": rid, "method": method, "params": params})
        return fut

    async def call(self, method: str, path: str, inp: Any = None, timeout: float = 60) -> Any:
        return await asyncio.wait_for(self.call_nowait(method, path, inp), timeout)

    def subscribe(
        self,
        path: str,
        inp: Any,
        last_event_id: str | None = None,
        on_data: Callable[[dict[str, Any]], None] | None = None,
    ) -> Sub:
        rid = self.next_id
        self.next_id += 1
        sub = Sub(rid, on_data)
        self.subs[rid] = sub
        params: dict[str, Any] = {"input": inp, "path": path}
        if last_event_id is not None:
            params["lastEventId"] = last_event_id
        self.send_json({"id": rid, "method": "subscription", "params": params})
        return sub

    def close(self) -> None:
        if self.transport is not None and not self.disconnected:
            with contextlib.suppress(Exception):
                self.transport.send_close(WSCloseCode.OK)
            self.transport.disconnect()

    async def wait_closed(self, timeout: float = 10) -> None:
        if self.transport is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.transport.wait_disconnected(), timeout)
