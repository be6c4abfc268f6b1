"""A lean HTTP/1.1 keep-alive connection for the load generator's HTTP workload.

One request at a time on a raw asyncio Protocol (Content-Length and chunked bodies), so
the generator spends microseconds, not the ~200 µs of a general HTTP client, per request
(docs/client.md has the figures). The request bytes are built once with
``wirechat.client``'s codec (the exact URL httpBatchLink sends) and written again and
again; everything else the generator does goes through ``wirechat.client``.
"""

# ruff: noqa: ASYNC109  (explicit per-call timeouts are the point here)
from __future__ import annotations

import asyncio

__all__ = ["HttpConn", "http_get_raw"]


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
