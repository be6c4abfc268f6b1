"""Clients for the scale-out tests: tRPC over HTTP (httpx) and over WebSocket (picows).

- :class:`Api`: queries and mutations against any process (``call(proc, path, ...)``).
- :class:`Subscriber`: one WebSocket with ``messages.onMessage`` on a room, as a
  front end holds it: it records every tracked id it receives (duplicates included),
  and when the socket drops it reconnects (same process first, then the next one)
  and resubscribes with ``params.lastEventId`` = the last id it saw.
- :class:`PresenceWatcher`: ``presence.onPresence`` on one process; keeps the
  snapshots with the time each arrived.
- :func:`audit`: lost / duplicated / out-of-order tracked ids of one subscriber.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

__all__ = [
    "Api",
    "Audit",
    "PresenceWatcher",
    "Proc",
    "Subscriber",
    "TRPCError",
    "User",
    "audit",
    "send_all",
]

PASSWORD = "correct horse battery"
MUTATIONS = {
    "auth.register",
    "rooms.create",
    "rooms.join",
    "messages.send",
}

_names = itertools.count(1)


@dataclass
class Proc:
    """One running ``wirechat serve``."""

    popen: subprocess.Popen[bytes]
    port: int
    ws_port: int
    log_path: Path
    killed: bool = False
    """Set by a test that killed it on purpose."""

    def kill(self) -> None:
        """SIGKILL: no shutdown, no goodbye to clients, Redis or the database."""
        self.killed = True
        self.popen.kill()
        self.popen.wait()

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}"

    @property
    def name(self) -> str:
        return f":{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]


class TRPCError(Exception):
    def __init__(self, shape: dict[str, Any], status: int) -> None:
        self.shape = shape
        self.status = status
        self.code: str = (shape.get("data") or {}).get("code", "?")
        super().__init__(f"{status} {self.code}: {shape.get('message')}")


@dataclass
class User:
    id: int
    username: str
    token: str


class Api:
    """tRPC over HTTP; each call names the process it goes to."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def call(self, proc: Proc, path: str, input: Any = None, token: str | None = None) -> Any:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        url = f"{proc.http_url}/trpc/{path}"
        if path in MUTATIONS:
            headers["content-type"] = "application/json"
            response = await self.http.post(url, content=orjson.dumps(input), headers=headers)
        else:
            params = {} if input is None else {"input": orjson.dumps(input).decode()}
            response = await self.http.get(url, params=params, headers=headers)
        body = orjson.loads(response.content)
        if "error" in body:
            raise TRPCError(body["error"], response.status_code)
        return body["result"].get("data")

    async def register(self, proc: Proc, prefix: str = "so") -> User:
        username = f"{prefix}_{next(_names)}_{secrets.token_hex(4)}"
        result = await self.call(
            proc, "auth.register", {"username": username, "password": PASSWORD}
        )
        return User(result["user"]["id"], username, result["token"])

    async def users(self, procs: Sequence[Proc], n: int, prefix: str = "so") -> list[User]:
        """``n`` users, registered round-robin over ``procs``."""
        return list(
            await asyncio.gather(*(self.register(procs[i % len(procs)], prefix) for i in range(n)))
        )

    async def room(self, proc: Proc, owner: User, members: Iterable[User]) -> int:
        """A public room of ``owner`` that every one of ``members`` joined."""
        room = await self.call(proc, "rooms.create", {"name": "scaleout"}, owner.token)
        room_id = int(room["id"])
        await asyncio.gather(
            *(
                self.call(proc, "rooms.join", {"roomId": room_id}, m.token)
                for m in members
                if m.id != owner.id
            )
        )
        return room_id


async def send_all(
    api: Api,
    plan: Sequence[tuple[Proc, User]],
    room_id: int,
    count: int,
    *,
    label: str,
    concurrency: int = 8,
    sent: list[int] | None = None,
    retries: list[str] | None = None,
) -> list[int]:
    """Send ``count`` messages, the i-th by ``plan[i % len(plan)]`` to that process.

    Each carries a ``clientMessageId``, so a send that failed on the network is retried
    (on the next process of the plan) without risk of a second message. Returns the
    message ids (also appended to ``sent``); each retry's process is appended to ``retries``.
    """
    ids: list[int] = [] if sent is None else sent
    retries = [] if retries is None else retries
    queue = iter(range(count))

    async def worker() -> None:
        for i in queue:
            input = {"roomId": room_id, "text": f"{label} {i}", "clientMessageId": f"{label}-{i}"}
            for attempt in range(6):
                # A failed attempt is retried on the next process of the plan, as a client
                # behind a load balancer would be; same author, same clientMessageId.
                proc, _ = plan[(i + attempt) % len(plan)]
                user = plan[i % len(plan)][1]
                try:
                    message = await api.call(proc, "messages.send", input, user.token)
                    break
                except httpx.TransportError as exc:
                    if attempt == 5:
                        raise AssertionError(f"send {label}-{i} failed on {proc.name}") from exc
                    retries.append(proc.name)
                    await asyncio.sleep(0.1)
            ids.append(int(message["id"]))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ids


# ---- WebSocket ----------------------------------------------------------------------------


class _Listener(WSListener):  # type: ignore[misc]
    def __init__(self, owner: _Socket) -> None:
        self.owner = owner

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            payload = frame.get_payload_as_bytes()
            if payload == b"PING":
                transport.send(WSMsgType.TEXT, b"PONG")
                return
            if payload == b"PONG":
                return
            message = orjson.loads(payload)
            for item in message if isinstance(message, list) else [message]:
                self.owner.on_message(item)
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.disconnect()


class _Socket:
    """A subscription on one WebSocket that comes back after every disconnect."""

    path = ""

    def __init__(self, procs: Sequence[Proc], start: int, token: str, room_id: int) -> None:
        self.procs = list(procs)
        self.current = start % len(self.procs)
        self.token = token
        self.room_id = room_id
        self.started = asyncio.Event()
        self.connections = 0
        self.disconnects = 0
        self.connect_failures = 0
        self.errors: list[Any] = []
        self.stops = 0
        self.history: list[str] = []
        """The process of each connection, in order."""
        self._transport: WSTransport | None = None
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    def params(self) -> dict[str, Any]:
        return {"path": self.path, "input": {"roomId": self.room_id}}

    async def _run(self) -> None:
        while not self._closing:
            proc = self.procs[self.current]
            url = f"{proc.ws_url}/?token={self.token}"
            try:
                transport, _ = await ws_connect(lambda: _Listener(self), url)
            except Exception:
                self.connect_failures += 1
                self.current = (self.current + 1) % len(self.procs)
                await asyncio.sleep(0.1)
                continue
            self._transport = transport
            self.connections += 1
            self.history.append(proc.name)
            message = {"id": next(self._ids), "method": "subscription", "params": self.params()}
            transport.send(WSMsgType.TEXT, orjson.dumps(message))
            await transport.wait_disconnected()
            self._transport = None
            if self._closing:
                return
            self.disconnects += 1
            await asyncio.sleep(0.05)

    def on_message(self, message: dict[str, Any]) -> None:
        if message.get("method") == "reconnect":
            if self._transport is not None:
                self._transport.disconnect()
            return
        if "error" in message:
            self.errors.append(message["error"])
            return
        result = message.get("result") or {}
        kind = result.get("type")
        if kind == "started":
            self.started.set()
        elif kind == "stopped":
            self.stops += 1
        elif kind == "data":
            self.on_data(result)

    def on_data(self, result: dict[str, Any]) -> None:
        raise NotImplementedError

    def drop(self) -> None:
        """Close the TCP connection abruptly (the client then reconnects)."""
        if self._transport is not None:
            self._transport.disconnect(graceful=False)

    async def close(self) -> None:
        self._closing = True
        if self._transport is not None:
            self._transport.disconnect()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 5)
            except Exception:
                self._task.cancel()


class Subscriber(_Socket):
    """``messages.onMessage``; ``ids``: every tracked id received, in arrival order."""

    path = "messages.onMessage"

    def __init__(self, procs: Sequence[Proc], start: int, token: str, room_id: int) -> None:
        super().__init__(procs, start, token, room_id)
        self.ids: list[int] = []
        self.message_ids: list[int] = []
        self.texts: list[str] = []
        self.last_event_id: str | None = None
        self._progress = asyncio.Event()

    def params(self) -> dict[str, Any]:
        params = super().params()
        if self.last_event_id is not None:
            params["lastEventId"] = self.last_event_id
        return params

    def on_data(self, result: dict[str, Any]) -> None:
        self.last_event_id = result["id"]
        self.ids.append(int(result["id"]))
        # A tracked frame: result.data is {"id", "data": MessageEvent} (tracked, as over SSE).
        message = result["data"]["data"]["message"]
        self.message_ids.append(int(message["id"]))
        self.texts.append(message["text"])
        self._progress.set()

    async def wait_count(self, n: int, within: float) -> bool:
        """Until ``n`` distinct events arrived; False after ``within`` seconds."""
        deadline = time.monotonic() + within
        while len(set(self.ids)) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), min(remaining, 0.5))
        return True


class PresenceWatcher(_Socket):
    """``presence.onPresence``; ``snapshots``: (monotonic time, set of online user ids)."""

    path = "presence.onPresence"

    def __init__(self, procs: Sequence[Proc], start: int, token: str, room_id: int) -> None:
        super().__init__(procs, start, token, room_id)
        self.snapshots: list[tuple[float, frozenset[int]]] = []
        self._changed = asyncio.Event()

    def on_data(self, result: dict[str, Any]) -> None:
        online = frozenset(int(u["id"]) for u in result["data"]["online"])
        self.snapshots.append((time.monotonic(), online))
        self._changed.set()

    @property
    def online(self) -> frozenset[int]:
        return self.snapshots[-1][1] if self.snapshots else frozenset()

    async def wait_for(self, predicate: Any, within: float) -> float | None:
        """Seconds until ``predicate(online)`` held, or None after ``within`` seconds."""
        started = time.monotonic()
        while not predicate(self.online):
            remaining = started + within - time.monotonic()
            if remaining <= 0:
                return None
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.5))
        return time.monotonic() - started


async def subscribe_all(subscribers: Sequence[_Socket], within: float = 20.0) -> None:
    for s in subscribers:
        s.start()
    await asyncio.wait_for(asyncio.gather(*(s.started.wait() for s in subscribers)), within)


# ---- audit --------------------------------------------------------------------------------


@dataclass
class Audit:
    lost: list[int] = field(default_factory=list)
    duplicated: list[int] = field(default_factory=list)
    out_of_order: list[tuple[int, int]] = field(default_factory=list)
    """(previous, next) pairs where the next id was not above the previous one."""

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.out_of_order)


def audit(ids: Sequence[int], expected: Iterable[int]) -> Audit:
    seen: set[int] = set()
    result = Audit()
    previous = 0
    for seq in ids:
        if seq in seen:
            result.duplicated.append(seq)
        elif seq < previous:
            result.out_of_order.append((previous, seq))
        seen.add(seq)
        previous = max(previous, seq)
    result.lost = sorted(set(expected) - seen)
    return result


def summarize(audits: dict[str, Audit], limit: int = 20) -> str:
    """The failing subscribers and the first few bad seq numbers of each."""
    lines = []
    for name, a in audits.items():
        if not a.ok:
            lines.append(
                f"{name}: lost {len(a.lost)} {a.lost[:limit]}, "
                f"duplicated {len(a.duplicated)} {a.duplicated[:limit]}, "
                f"out of order {len(a.out_of_order)} {a.out_of_order[:limit]}"
            )
    return "\n".join(lines)
