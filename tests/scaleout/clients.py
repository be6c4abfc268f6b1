"""Clients for the scale-out tests, on :mod:`wirechat.client`.

- :class:`Api`: queries and mutations against any process (``call(proc, path, ...)``).
- :class:`Subscriber`: one WebSocket with ``messages.onMessage`` on a room, as a
  front end holds it: it records every tracked id it receives (duplicates included);
  when the socket drops the client reconnects (same process first, then the next one
  while connecting fails) and resubscribes with ``params.lastEventId`` = the last id.
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

from wirechat.client import Client, Event, TRPCClientError

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
    "auth.login",
    "auth.refresh",
    "auth.logout",
    "auth.logoutAll",
    "rooms.create",
    "rooms.join",
    "rooms.removeMember",
    "messages.send",
    "messages.edit",
    "messages.delete",
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


TRPCError = TRPCClientError
"""Errors of :class:`Api` calls: ``code`` (``"TOO_MANY_REQUESTS"``), ``http_status``."""


@dataclass
class User:
    id: int
    username: str
    token: str
    refresh_token: str = ""


class Api:
    """tRPC over HTTP; each call names the process it goes to."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def call(self, proc: Proc, path: str, input: Any = None, token: str | None = None) -> Any:
        """``data`` of a call; :class:`TRPCError` (``code`` None for network failures)."""
        headers = {"authorization": f"Bearer {token}"} if token else None
        client = Client(f"{proc.http_url}/trpc", headers=headers, http=self.http)
        if path in MUTATIONS:
            return await client.mutate(path, input)
        return await client.query(path, input)

    async def register(self, proc: Proc, prefix: str = "so") -> User:
        username = f"{prefix}_{next(_names)}_{secrets.token_hex(4)}"
        result = await self.call(
            proc, "auth.register", {"username": username, "password": PASSWORD}
        )
        return User(result["user"]["id"], username, result["token"], result["refreshToken"])

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
                except TRPCError as exc:
                    if exc.code is not None:  # an answer from the server: no retry
                        raise
                    if attempt == 5:
                        raise AssertionError(f"send {label}-{i} failed on {proc.name}") from exc
                    retries.append(proc.name)
                    await asyncio.sleep(0.1)
            ids.append(int(message["id"]))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ids


# ---- WebSocket ----------------------------------------------------------------------------


class _Socket:
    """A subscription on one WebSocket that comes back after every disconnect."""

    path = ""

    def __init__(self, procs: Sequence[Proc], start: int, token: str, room_id: int) -> None:
        self.procs = list(procs)
        self.current = start % len(self.procs)
        self.errors: list[Any] = []
        self.connect_failures = 0
        self.history: list[str] = []
        """The process of each connection, in order."""
        self.client = Client(
            ws_url=self._url,
            connection_params={"token": token},
            retry_delay=lambda attempt: 0.05 if attempt == 0 else 0.1,
        )
        self.subscription = self.client.subscribe(self.path, {"roomId": room_id})
        self._task: asyncio.Task[None] | None = None
        self._before_last = 0

    def _url(self) -> str:
        """Called for every connection attempt: the same process again unless the last
        attempt failed, then the next one (a client behind a load balancer)."""
        connections = self.client.ws.connections
        if self.history and connections == self._before_last:
            self.connect_failures += 1
            self.history.pop()
            self.current = (self.current + 1) % len(self.procs)
        self._before_last = connections
        proc = self.procs[self.current]
        self.history.append(proc.name)
        return proc.ws_url

    @property
    def connections(self) -> int:
        return self.client.ws.connections

    @property
    def disconnects(self) -> int:
        return max(0, self.subscription.starts - 1)

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._read())

    async def started(self) -> None:
        await self.subscription.started()

    async def _read(self) -> None:
        try:
            async for event in self.subscription:
                self.on_data(event)
        except TRPCError as exc:
            self.errors.append(exc.shape)

    def on_data(self, event: Event) -> None:
        raise NotImplementedError

    def drop(self) -> None:
        """Close the TCP connection abruptly (the client then reconnects)."""
        self.client.ws.abort()

    async def close(self) -> None:
        await self.client.aclose()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class Subscriber(_Socket):
    """``messages.onMessage``; ``ids``: every tracked id received, in arrival order."""

    path = "messages.onMessage"

    def __init__(self, procs: Sequence[Proc], start: int, token: str, room_id: int) -> None:
        super().__init__(procs, start, token, room_id)
        self.ids: list[int] = []
        self.message_ids: list[int] = []
        self.texts: list[str] = []
        self._progress = asyncio.Event()

    def on_data(self, event: Event) -> None:
        assert event.id is not None, event
        self.ids.append(int(event.id))
        message = event.data["message"]
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

    def on_data(self, event: Event) -> None:
        online = frozenset(int(u["id"]) for u in event.data["online"])
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
    await asyncio.wait_for(asyncio.gather(*(s.started() for s in subscribers)), within)


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
