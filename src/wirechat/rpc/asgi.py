"""ASGI adapter: tRPC over HTTP (and WebSocket) for any ASGI server or app.

Mount it under a prefix in Starlette or FastAPI (``Mount("/trpc", app=...)``)
or serve it alone. HTTP requests go to :class:`HTTPHandler`; WebSocket
connections run the same :class:`WSSession` as the standalone server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from .context import RequestInfo
from .engine import Engine
from .http import HTTPHandler, HTTPRequest, HTTPResponse
from .limits import Limits
from .ws.session import SHUTTING_DOWN, CloseCode, WSSession

__all__ = ["TRPCASGIApp"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

logger = logging.getLogger("wirechat.ws")


def _peer(scope: Scope) -> str | None:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else None


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def _route_path(scope: Scope) -> str:
    """The still-encoded path below the mount point (``raw_path`` keeps ``%2C`` intact)."""
    raw = scope.get("raw_path")
    path: str = raw.decode("latin-1").partition("?")[0] if raw else scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    return path


class TRPCASGIApp:
    """An ASGI application answering tRPC requests for ``handler.engine``.

    ``max_body_bytes`` is checked before routing (413). WebSocket connections get
    ``ws_limits`` (default: the handler's), enforced by the same session as on the
    WS server.
    """

    def __init__(
        self,
        handler: HTTPHandler,
        *,
        max_body_bytes: int = 1024 * 1024,
        ws_limits: Limits | None = None,
    ) -> None:
        self.handler = handler
        self.engine: Engine[Any] = handler.engine
        self.max_body_bytes = max_body_bytes
        self.ws_limits = ws_limits or handler.limits
        self._streams: set[asyncio.Task[None]] = set()
        self._sessions: set[WSSession] = set()
        self._stopping = False

    async def aclose(self, grace: float = 3.0) -> None:
        """Shutting down: end streamed responses now (without SSE ``return``, so clients
        resume elsewhere with Last-Event-ID) and drain WebSocket sessions. A stream or
        WebSocket that begins after this (a request already on its way) ends the same
        way at once: it would otherwise outlive the application it needs."""
        self._stopping = True
        for task in list(self._streams):
            task.cancel()
        if self._sessions:
            await asyncio.gather(*(s.drain(grace) for s in list(self._sessions)))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)

    # -- HTTP ----------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _headers(scope)
        body = await self._read_body(headers, receive)
        if body is None:
            response = self.handler.payload_too_large(self.max_body_bytes)
        else:
            request = HTTPRequest(
                scope["method"],
                _route_path(scope),
                scope.get("query_string", b"").decode("latin-1"),
                headers,
                body,
                _peer(scope),
            )
            response = await self.handler.handle(request)
        await self._respond(response, receive, send)

    async def _read_body(self, headers: dict[str, str], receive: Receive) -> bytes | None:
        """The whole body, or None once it passes the limit (never buffered past it)."""
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"".join(chunks)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _respond(self, response: HTTPResponse, receive: Receive, send: Send) -> None:
        raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
        body = response.body
        if isinstance(body, bytes):
            raw_headers.append((b"content-length", str(len(body)).encode()))
            await send(
                {"type": "http.response.start", "status": response.status, "headers": raw_headers}
            )
            await send({"type": "http.response.body", "body": body})
            return
        await send(
            {"type": "http.response.start", "status": response.status, "headers": raw_headers}
        )
        await self._stream(body, receive, send)

    async def _stream(self, body: AsyncIterator[bytes], receive: Receive, send: Send) -> None:
        """Write a streamed body, cancelling it as soon as the client disconnects."""

        finished = False
        disconnected = False

        async def pump() -> None:
            nonlocal finished
            async for chunk in body:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            finished = True
            await send({"type": "http.response.body", "body": b"", "more_body": False})

        async def watch() -> None:
            nonlocal disconnected
            while (await receive())["type"] != "http.disconnect":
                pass
            disconnected = True

        producer = asyncio.ensure_future(pump())
        watcher = asyncio.ensure_future(watch())
        self._streams.add(producer)
        if self._stopping:
            producer.cancel()
        try:
            await asyncio.wait({producer, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._streams.discard(producer)
            for task in (producer, watcher):
                task.cancel()
            for task in (producer, watcher):
                with contextlib.suppress(BaseException):
                    await task
            aclose = getattr(body, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
        if not finished and not disconnected:
            # Ended by shutdown: close the response properly so the client reconnects.
            with contextlib.suppress(Exception):
                await send({"type": "http.response.body", "body": b"", "more_body": False})

    # -- WebSocket -----------------------------------------------------------------

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        await send({"type": "websocket.accept"})
        if self._stopping:
            await send(
                {
                    "type": "websocket.close",
                    "code": CloseCode.SERVICE_RESTART,
                    "reason": SHUTTING_DOWN,
                }
            )
            return
        query = dict(
            parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        )
        peer = _peer(scope)
        info = RequestInfo("ws", _headers(scope), query, peer)
        outbox: asyncio.Queue[bytes | str | tuple[int, str]] = asyncio.Queue()
        buffered = 0

        def enqueue(data: bytes | str) -> None:
            nonlocal buffered
            buffered += len(data)
            outbox.put_nowait(data)

        def close(code: int, reason: str) -> None:
            nonlocal buffered
            if code == CloseCode.TRY_AGAIN_LATER:
                # Too slow: drop what it has not read instead of sending it first.
                while not outbox.empty():
                    outbox.get_nowait()
                buffered = 0
            outbox.put_nowait((code, reason))

        session = WSSession(
            self.engine,
            info,
            enqueue,
            close,
            limits=self.ws_limits,
            expect_connection_params=query.get("connectionParams") == "1",
            buffered=lambda: buffered,
        )

        async def writer() -> None:
            nonlocal buffered
            while True:
                item = await outbox.get()
                if isinstance(item, tuple):
                    await send({"type": "websocket.close", "code": item[0], "reason": item[1]})
                    return
                buffered -= len(item)
                text = item.decode() if isinstance(item, bytes) else item
                await send({"type": "websocket.send", "text": text})

        logger.info("WebSocket connected peer=%s", peer)
        write_task = asyncio.ensure_future(writer())
        self._sessions.add(session)
        session.start()
        try:
            while not write_task.done():
                receive_task = asyncio.ensure_future(receive())
                await asyncio.wait({receive_task, write_task}, return_when=asyncio.FIRST_COMPLETED)
                if not receive_task.done():
                    receive_task.cancel()
                    break
                message = receive_task.result()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is not None:
                    session.receive_text(text)
                else:
                    session.receive_binary(len(message.get("bytes") or b""))
        finally:
            self._sessions.discard(session)
            write_task.cancel()
            with contextlib.suppress(BaseException):
                await write_task
            await session.aclose()
            logger.info("WebSocket disconnected peer=%s", peer)
