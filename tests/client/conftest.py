"""One client suite, two servers: every test here runs against wirechat and against
the Node baseline (``@trpc/server`` 11.25 on express + ws), through real sockets.

- ``server``: the shared process of one kind for the session;
- ``fresh_server``: a factory of private processes (for restarts), removed after the test;
- ``user`` / ``other``: registered users with their tokens; ``room``: a room of ``user``
  that ``other`` joined;
- ``relay``: a TCP relay in front of ``server`` whose connections a test can cut.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from wirechat.client import Client

from .proxy import Relay
from .servers import Server, baseline_modules

PASSWORD = "correct horse battery"
_names = itertools.count(1)


@dataclass
class User:
    id: int
    username: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}


def _start(kind: str, **env: str) -> Server:
    if kind == "node":
        baseline_modules()
    server = Server(kind, **env)
    server.start()
    return server


@pytest.fixture(scope="session", params=["wirechat", pytest.param("node", marks=pytest.mark.node)])
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    srv = _start(request.param)
    yield srv
    srv.remove()


@pytest.fixture
def fresh_server(server: Server) -> Iterator[Callable[..., Server]]:
    """Start a private server of the same kind as ``server``."""
    started: list[Server] = []

    def start(**env: str) -> Server:
        srv = _start(server.kind, **env)
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.remove()


async def register(url: str, prefix: str = "c") -> User:
    username = f"{prefix}_{next(_names)}_{secrets.token_hex(4)}"
    async with Client(url) as client:
        result = await client.mutate("auth.register", {"username": username, "password": PASSWORD})
    return User(int(result["user"]["id"]), username, result["token"])


async def make_room(url: str, owner: User, *members: User) -> int:
    async with Client(url, headers=owner.headers) as client:
        room = await client.mutate("rooms.create", {"name": "client suite"})
    room_id = int(room["id"])
    for member in members:
        async with Client(url, headers=member.headers) as client:
            await client.mutate("rooms.join", {"roomId": room_id})
    return room_id


@pytest.fixture
async def user(server: Server) -> User:
    server.assert_alive()
    return await register(server.url)


@pytest.fixture
async def other(server: Server) -> User:
    return await register(server.url, "o")


@pytest.fixture
async def room(server: Server, user: User, other: User) -> int:
    return await make_room(server.url, user, other)


@pytest.fixture
async def relay(server: Server) -> AsyncIterator[Callable[[int], Any]]:
    """``await relay(port)``: a relay in front of ``port`` of the server."""
    relays: list[Relay] = []

    async def open_relay(port: int) -> Relay:
        r = await Relay(port).start()
        relays.append(r)
        return r

    yield open_relay
    for r in relays:
        await r.aclose()
