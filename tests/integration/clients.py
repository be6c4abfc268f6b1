"""Clients that speak to a running wirechat process the way a tRPC front end does.

- :class:`Api`: tRPC over HTTP with :mod:`wirechat.client`: ``call(path, input, token)``
  runs a query or a mutation (api.md's procedure table says which) and returns ``data``,
  or raises :class:`TRPCError` (``wirechat.client.TRPCClientError``); ``raw`` sends
  hand-made requests for wire-level checks.
- :class:`WSClient`: a minimal RFC 6455 client (asyncio streams) speaking tRPC's
  WebSocket protocol: queries, mutations and subscriptions multiplexed by id, ``PING``
  answered with ``PONG``. Small on purpose, so tests can drop the TCP connection at
  any moment (:meth:`WSClient.abort`) and read every frame the server sends.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import os
import secrets
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import orjson

from wirechat.client import UNSET, Client, TRPCClientError

__all__ = [
    "KINDS",
    "PASSWORD",
    "Api",
    "Subscription",
    "TRPCError",
    "User",
    "WSClient",
    "issue_paths",
    "sse_events",
    "sse_url",
    "unique_name",
]

PASSWORD = "correct horse battery"

KINDS: dict[str, str] = {
    "auth.register": "mutation",
    "auth.login": "mutation",
    "auth.me": "query",
    "auth.refresh": "mutation",
    "auth.useToken": "mutation",
    "auth.logout": "mutation",
    "auth.logoutAll": "mutation",
    "auth.changePassword": "mutation",
    "users.get": "query",
    "rooms.create": "mutation",
    "rooms.openDirect": "mutation",
    "rooms.list": "query",
    "rooms.listPublic": "query",
    "rooms.join": "mutation",
    "rooms.leave": "mutation",
    "rooms.addMember": "mutation",
    "rooms.members": "query",
    "rooms.removeMember": "mutation",
    "messages.send": "mutation",
    "messages.list": "query",
    "messages.edit": "mutation",
    "messages.delete": "mutation",
    "messages.onMessage": "subscription",
    "typing.set": "mutation",
    "typing.onTyping": "subscription",
    "presence.onPresence": "subscription",
}
"""Every procedure of api.md and its kind."""

_names = itertools.count(1)


def unique_name(prefix: str = "u") -> str:
    """A username (3-32 of ``[A-Za-z0-9_]``) no other test uses."""
    return f"{prefix[:12]}_{next(_names)}_{secrets.token_hex(4)}"


TRPCError = TRPCClientError


def issue_paths(error: TRPCClientError) -> list[list[str | int]]:
    """The ``path`` of each validation issue in the error's ``data.issues``."""
    issues = error.data.get("issues") or []
    return [list(issue.get("path", [])) for issue in issues]


@dataclass
class User:
    """A registered user and their token."""

    id: int
    username: str
    token: str
    raw: dict[str, Any]
    refresh_token: str = ""


class Api:
    """tRPC over HTTP against ``trpc_url`` (``http://host:port/trpc``)."""

    def __init__(self, trpc_url: str, client: httpx.AsyncClient) -> None:
        self.trpc_url = trpc_url.rstrip("/")
        self.http = client

    async def raw(
        self, path: str, input: Any = None, token: str | None = None, *, kind: str | None = None
    ) -> httpx.Response:
        kind = kind or KINDS.get(path, "query")
        headers = {"authorization": f"Bearer {token}"} if token else {}
        url = f"{self.trpc_url}/{path}"
        if kind == "mutation":
            body = b"" if input is None else orjson.dumps(input)
            headers["content-type"] = "application/json"
            return await self.http.post(url, content=body, headers=headers)
        if input is not None:
            url += "?input=" + quote(orjson.dumps(input).decode(), safe="")
        return await self.http.get(url, headers=headers)

    async def call(self, path: str, input: Any = None, token: str | None = None) -> Any:
        """``data`` of a query or mutation; raises :class:`TRPCError` on an error answer."""
        headers = {"authorization": f"Bearer {token}"} if token else None
        client = Client(self.trpc_url, headers=headers, http=self.http)
        value = UNSET if input is None else input
        if KINDS.get(path, "query") == "mutation":
            return await client.mutate(path, value)
        return await client.query(path, value)

    async def register(self, prefix: str = "u", display_name: str | None = None) -> User:
        username = unique_name(prefix)
        input: dict[str, Any] = {"username": username, "password": PASSWORD}
        if display_name is not None:
            input["displayName"] = display_name
        result = await self.call("auth.register", input)
        return User(
            result["user"]["id"], username, result["token"], result["user"], result["refreshToken"]
        )

    async def room(self, owner: User, *members: User, private: bool = False) -> dict[str, Any]:
        """A new room of ``owner`` with ``members`` added."""
        room: dict[str, Any] = await self.call(
            "rooms.create",
            {
                "name": unique_name("room"),
                "isPrivate": private,
                "memberIds": [m.id for m in members],
            },
            owner.token,
        )
        return room

    async def send(self, user: User, room_id: int, text: str, **extra: Any) -> dict[str, Any]:
        message: dict[str, Any] = await self.call(
            "messages.send", {"roomId": room_id, "text": text, **extra}, user.token
        )
        return message


# ---- WebSocket -------------------------------------------------------------------------

_CLOSED = object()


class Subscription:
    """The frames the server sends for one subscription id."""

    def __init__(self, client: WSClient, id: int, queue: asyncio.Queue[Any]) -> None:
        self.client = client
        self.id = id
        self.queue = queue

    async def next(self, within: float = 5.0) -> dict[str, Any]:
        """The next frame for this id; AssertionError if none ``within`` seconds;
        ConnectionError if the connection closed."""
        try:
            item = await asyncio.wait_for(self.queue.get(), within)
        except TimeoutError:
            raise AssertionError(f"no frame for subscription {self.id} within {within} s") from None
        if item is _CLOSED:
            raise ConnectionError("WebSocket closed")
        frame: dict[str, Any] = item
        return frame

    async def started(self, within: float = 5.0) -> None:
        frame = await self.next(within)
        if "error" in frame:
            raise TRPCError.from_shape(frame["error"])
        assert frame["result"]["type"] == "started", frame

    async def data(self, within: float = 5.0) -> Any:
        """The ``data`` of the next data frame (the ``{id, data}`` envelope if tracked)."""
        frame = await self.next(within)
        if "error" in frame:
            raise TRPCError.from_shape(frame["error"])
        assert frame["result"]["type"] == "data", frame
        return frame["result"]["data"]

    async def silence(self, seconds: float) -> None:
        """Assert that nothing arrives for ``seconds``."""
        try:
            item = await asyncio.wait_for(self.queue.get(), seconds)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected frame for subscription {self.id}: {item!r}")

    async def stop(self) -> None:
        await self.client.send_json({"id": self.id, "method": "subscription.stop"})


class WSClient:
    """One tRPC WebSocket connection (text frames, JSON messages)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.ids = itertools.count(1)
        self.queues: dict[int, asyncio.Queue[Any]] = {}
        self.notifications: asyncio.Queue[Any] = asyncio.Queue()
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def connect(
        cls,
        url: str,
        token: str | None = None,
        *,
        connection_params: dict[str, Any] | None = None,
        query_token: bool = False,
        headers: dict[str, str] | None = None,
    ) -> WSClient:
        """Open ``url``; the token goes in an ``Authorization`` header, in ``?token=``
        (``query_token``) or, with ``connection_params``, in the first message.
        ``headers`` are added to the upgrade request."""
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        target = parts.path or "/"
        query = [parts.query] if parts.query else []
        if query_token and token:
            query.append(f"token={quote(token)}")
        if connection_params is not None:
            query.append("connectionParams=1")
        if query:
            target += "?" + "&".join(query)
        reader, writer = await asyncio.open_connection(host, port)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {target} HTTP/1.1",
            f"Host: {host}:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        if token and not query_token and connection_params is None:
            lines.append(f"Authorization: Bearer {token}")
        lines.extend(f"{name}: {value}" for name, value in (headers or {}).items())
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status + b" ":
            writer.close()
            raise ConnectionError(f"WebSocket upgrade refused: {status!r}")
        client = cls(reader, writer)
        client._task = asyncio.create_task(client._read_loop())
        if connection_params is not None:
            await client.send_json({"method": "connectionParams", "data": connection_params})
        return client

    # -- frames ----------------------------------------------------------------------

    def _write_frame(self, opcode: int, payload: bytes) -> None:
        header = bytearray([0x80 | opcode])
        n = len(payload)
        if n < 126:
            header.append(0x80 | n)
        elif n < 65536:
            header.append(0x80 | 126)
            header += struct.pack("!H", n)
        else:
            header.append(0x80 | 127)
            header += struct.pack("!Q", n)
        mask = os.urandom(4)
        header += mask
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(bytes(header) + masked)

    async def _read_frame(self) -> tuple[int, bytes]:
        message = b""
        first_opcode = 0
        while True:
            b1, b2 = await self.reader.readexactly(2)
            fin, opcode = b1 & 0x80, b1 & 0x0F
            n = b2 & 0x7F
            if n == 126:
                (n,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif n == 127:
                (n,) = struct.unpack("!Q", await self.reader.readexactly(8))
            mask = await self.reader.readexactly(4) if b2 & 0x80 else None
            payload = await self.reader.readexactly(n)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if opcode >= 0x8:  # control frames are never fragmented
                return opcode, payload
            if opcode:
                first_opcode = opcode
            message += payload
            if fin:
                return first_opcode, message

    async def _read_loop(self) -> None:
        try:
            while True:
                opcode, payload = await self._read_frame()
                if opcode == 0x8:  # close
                    if len(payload) >= 2:
                        (self.close_code,) = struct.unpack("!H", payload[:2])
                    with _suppress():
                        self._write_frame(0x8, payload[:2])
                    break
                if opcode == 0x9:  # protocol ping
                    self._write_frame(0xA, payload)
                    continue
                if opcode != 0x1:
                    continue
                if payload == b"PING":
                    self._write_frame(0x1, b"PONG")
                    continue
                if payload == b"PONG":
                    continue
                self._dispatch(orjson.loads(payload))
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            self.closed.set()
            for queue in self.queues.values():
                queue.put_nowait(_CLOSED)
            self.notifications.put_nowait(_CLOSED)
            with _suppress():
                self.writer.close()

    def _dispatch(self, message: Any) -> None:
        for item in message if isinstance(message, list) else [message]:
            id = item.get("id")
            queue = self.queues.get(id) if id is not None else None
            if queue is None:
                self.notifications.put_nowait(item)
            else:
                queue.put_nowait(item)

    async def send_json(self, message: Any) -> None:
        self._write_frame(0x1, orjson.dumps(message))
        await self.writer.drain()

    # -- tRPC ------------------------------------------------------------------------

    async def request(
        self, method: str, path: str, input: Any = None, last_event_id: str | None = None
    ) -> Subscription:
        id = next(self.ids)
        queue: asyncio.Queue[Any] = asyncio.Queue()
        self.queues[id] = queue
        params: dict[str, Any] = {"path": path}
        if input is not None:
            params["input"] = input
        if last_event_id is not None:
            params["lastEventId"] = last_event_id
        await self.send_json({"id": id, "method": method, "params": params})
        return Subscription(self, id, queue)

    async def call(self, path: str, input: Any = None, within: float = 10.0) -> Any:
        """A query or mutation over the socket: ``data``, or raises :class:`TRPCError`."""
        pending = await self.request(KINDS.get(path, "query"), path, input)
        frame = await pending.next(within)
        del self.queues[pending.id]
        if "error" in frame:
            raise TRPCError.from_shape(frame["error"])
        return frame["result"].get("data")

    async def subscribe(
        self, path: str, input: Any = None, last_event_id: str | None = None
    ) -> Subscription:
        return await self.request("subscription", path, input, last_event_id)

    async def close(self) -> None:
        if not self.closed.is_set():
            with _suppress():
                self._write_frame(0x8, struct.pack("!H", 1000))
                await self.writer.drain()
            with _suppress():
                await asyncio.wait_for(self.closed.wait(), 2)
        self.abort()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    def abort(self) -> None:
        """Drop the TCP connection without a closing handshake (a network failure)."""
        transport = self.writer.transport
        if not transport.is_closing():
            transport.abort()


def _suppress() -> contextlib.suppress:
    return contextlib.suppress(OSError, RuntimeError, TimeoutError)


# ---- Server-Sent Events ----------------------------------------------------------------


def sse_url(trpc_url: str, path: str, input: Any, token: str | None = None) -> str:
    """The URL httpSubscriptionLink opens: ``connectionParams`` carries the token."""
    query = []
    if token is not None:
        query.append("connectionParams=" + quote(orjson.dumps({"token": token}).decode()))
    query.append("input=" + quote(orjson.dumps(input).decode()))
    return f"{trpc_url.rstrip('/')}/{path}?" + "&".join(query)


async def sse_events(response: httpx.Response) -> AsyncIterator[dict[str, str]]:
    """Events of an SSE response as ``{"event": ..., "data": ..., "id": ...}``."""
    event: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line == "":
            if event:
                event.setdefault("event", "message")
                yield event
            event = {}
            continue
        name, _, value = line.partition(":")
        event[name] = value[1:] if value.startswith(" ") else value
