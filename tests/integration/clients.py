"""Clients that speak to a running wirechat process the way a tRPC front end does.

- :class:`Api`: tRPC over HTTP with :mod:`wirechat.client`: ``call(path, input, token)``
  runs a query or a mutation (docs/api.md "Procedures" says which) and returns ``data``,
  or raises :class:`TRPCError` (``wirechat.client.TRPCClientError``); ``raw`` sends
  hand-made requests for wire-level checks.
- :class:`WSClient`: a frame-level tRPC WebSocket connection on picows for checks of
  the wire itself: every frame the server sends for an id is kept in order
  (``started``, ``data``, ``stopped``, errors), ``PING`` is answered with ``PONG``, and
  :meth:`WSClient.abort` drops the TCP connection at any moment. Tests of behaviour
  rather than frames use :class:`wirechat.client.Client`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import orjson
from picows import WSCloseCode, WSError, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

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
"""Every procedure of docs/api.md "Procedures" and its kind."""

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


class _Listener(WSListener):
    def __init__(self, client: WSClient) -> None:
        self.client = client

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is WSMsgType.TEXT:
            payload = frame.get_payload_as_bytes()
            if payload == b"PING":
                transport.send(WSMsgType.TEXT, b"PONG")
            elif payload != b"PONG":
                self.client._dispatch(orjson.loads(payload))
        elif frame.msg_type is WSMsgType.CLOSE:
            code = frame.get_close_code()
            self.client.close_code = int(code) if code is not None else None
            transport.send_close(code)
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.client._lost()


class WSClient:
    """One tRPC WebSocket connection (text frames, JSON messages)."""

    def __init__(self) -> None:
        self.transport: WSTransport | None = None
        self.ids = itertools.count(1)
        self.queues: dict[int, asyncio.Queue[Any]] = {}
        self.notifications: asyncio.Queue[Any] = asyncio.Queue()
        self.closed = asyncio.Event()
        self.close_code: int | None = None

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
        query = []
        if query_token and token:
            query.append(f"token={quote(token)}")
        if connection_params is not None:
            query.append("connectionParams=1")
        if query:
            url += ("&" if "?" in url else "?") + "&".join(query)
        headers = dict(headers or {})
        if token and not query_token and connection_params is None:
            headers["authorization"] = f"Bearer {token}"
        client = cls()
        try:
            # Bounded: a handshake cut by a server that is shutting down can leave
            # picows' connect pending, and the caller's retry loop must get control back.
            client.transport, _ = await asyncio.wait_for(
                ws_connect(lambda: _Listener(client), url, extra_headers=headers or None), 10
            )
        except WSError as exc:
            raise ConnectionError(f"WebSocket upgrade refused: {exc}") from exc
        if connection_params is not None:
            await client.send_json({"method": "connectionParams", "data": connection_params})
        return client

    def _lost(self) -> None:
        self.closed.set()
        for queue in self.queues.values():
            queue.put_nowait(_CLOSED)
        self.notifications.put_nowait(_CLOSED)

    def _dispatch(self, message: Any) -> None:
        for item in message if isinstance(message, list) else [message]:
            id = item.get("id")
            queue = self.queues.get(id) if id is not None else None
            if queue is None:
                self.notifications.put_nowait(item)
            else:
                queue.put_nowait(item)

    async def send_json(self, message: Any) -> None:
        if self.transport is not None and not self.closed.is_set():
            self.transport.send(WSMsgType.TEXT, orjson.dumps(message))
            await asyncio.sleep(0)

    # -- tRPC ------------------------------------------------------------------------

    async def request(
        self, method: str, path: str, input: Any = None, last_event_id: str | None = None
    ) -> Subscription:
        id = next(self.ids)
        queue: asyncio.Queue[Any] = asyncio.Queue()
        self.queues[id] = queue
        if self.closed.is_set():
            # Lost before this request: its first read must say so, not wait out a timeout.
            queue.put_nowait(_CLOSED)
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
        if self.transport is not None and not self.closed.is_set():
            with _suppress():
                self.transport.send_close(WSCloseCode.OK)
            with _suppress():
                await asyncio.wait_for(self.closed.wait(), 2)
        self.abort()

    def abort(self) -> None:
        """Drop the TCP connection without a closing handshake (a network failure)."""
        if self.transport is not None and not self.closed.is_set():
            self.transport.disconnect(graceful=False)


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
