"""SIGTERM under load (issue 11): 500 streaming clients and 5 senders while the server is
restarted three times on the same DATA_DIR and ports. Every client resumes with its
last event id; none loses or receives twice any of the messages the senders stored.

Clients are raw WebSocket connections (``WSClient``), 10 per user; senders post over
HTTP with a ``clientMessageId`` and retry the same id until it is stored, as a real
front end does across a restart.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.net import free_port

from .clients import Api, TRPCError, User, WSClient
from .conftest import BASE_ENV, WIRECHAT

CLIENTS = 500
CONNECTIONS_PER_USER = 10
SENDERS = 5
RESTARTS = 3


class Restartable:
    """``wirechat serve`` that can be stopped with SIGTERM and started again on the
    same ports and data directory."""

    def __init__(self, env: dict[str, str], data_dir: Path) -> None:
        self.env = env
        self.data_dir = data_dir
        self.port = int(env["PORT"])
        self.ws_port = int(env["WS_PORT"])
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir / "server.log"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _spawn(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as log:
            return subprocess.Popen(
                [str(WIRECHAT), "serve"],
                cwd=self.data_dir,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def start(self) -> None:
        self.proc = self._spawn()
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient(timeout=1) as client:
            while time.monotonic() < deadline:
                assert self.proc.poll() is None, self.log.read_text()[-3000:]
                try:
                    if (await client.get(f"{self.http_url}/health")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.05)
        raise AssertionError("no /health within 30 s:\n" + self.log.read_text()[-3000:])

    async def sigterm(self) -> float:
        assert self.proc is not None
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(self.proc.wait, 30)
        assert code == 0, self.log.read_text()[-3000:]
        return time.monotonic() - started

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def restartable(db: tuple[str, str | None], tmp_path: Path) -> Iterator[Restartable]:
    if db[0] != "sqlite":
        # Resuming reads the same event log on both; one database keeps CI within time.
        pytest.skip("run on SQLite only")
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
        **BASE_ENV,
        "DATA_DIR": str(tmp_path),
        "PORT": str(free_port()),
        "WS_PORT": str(free_port()),
        "RATE_LIMIT_MESSAGES": "100000",
        "MAX_CONNECTIONS_PER_IP": "100000",
        "SHUTDOWN_GRACE_SECONDS": "1",
        **({"DATABASE_URL": db[1]} if db[1] else {}),
    }
    server = Restartable(env, tmp_path)
    yield server
    server.kill()


class StreamClient:
    """One connection following ``messages.onMessage`` and resuming after every close."""

    def __init__(self, ws_url: str, token: str, room_id: int) -> None:
        self.ws_url = ws_url
        self.token = token
        self.room_id = room_id
        self.last_event_id: str | None = None
        self.message_ids: list[int] = []
        self.seqs: list[int] = []
        self.connects = 0
        self.last_connect = 0.0
        self.errors: list[str] = []
        self.error_frames: list[str] = []
        self.stop = asyncio.Event()

    async def run(self) -> None:
        failures = 0
        while not self.stop.is_set():
            try:
                ws = await WSClient.connect(self.ws_url, self.token)
            except (TimeoutError, OSError, ConnectionError):
                # Backoff with jitter, as @trpc/client's wsLink does: 500 clients
                # retrying in lockstep would only compete with the restarting server.
                failures += 1
                await asyncio.sleep(min(1.0, 0.05 * 2**failures) * random.uniform(0.5, 1.0))
                continue
            failures = 0
            self.connects += 1
            self.last_connect = time.monotonic()
            try:
                await self._follow(ws)
            except (ConnectionError, OSError):
                pass
            except AssertionError as exc:  # no `started` in time: try again
                self.errors.append(str(exc))
            except TRPCError as exc:
                # wsLink ends a subscription on an error frame: a real client would stop
                # following the room here, so the test fails on any (below).
                self.error_frames.append(str(exc))
                await asyncio.sleep(0.1)
            finally:
                await ws.close()

    async def _follow(self, ws: WSClient) -> None:
        sub = await ws.subscribe(
            "messages.onMessage", {"roomId": self.room_id}, last_event_id=self.last_event_id
        )
        await sub.started(within=30)
        while not self.stop.is_set():
            try:
                frame = await sub.next(within=1.0)
            except AssertionError:
                continue  # quiet: check stop, keep waiting
            if "error" in frame:
                raise TRPCError.from_shape(frame["error"])
            result = frame["result"]
            if result.get("type") == "stopped":
                return
            tracked: dict[str, Any] = result["data"]
            self.last_event_id = tracked["id"]
            self.seqs.append(int(tracked["id"]))
            self.message_ids.append(tracked["data"]["message"]["id"])


async def _send(
    api: Api, sender: User, index: int, room_id: int, until: asyncio.Event
) -> list[int]:
    """Send until ``until`` is set (at least a few), each retried with its id until stored."""
    ids: list[int] = []
    k = 0
    while not until.is_set() or k < 3:
        while True:
            try:
                message = await api.send(
                    sender, room_id, f"s{index}-{k}", clientMessageId=f"restart-{index}-{k}"
                )
                break
            except (httpx.HTTPError, TRPCError):
                await asyncio.sleep(0.05)  # the server is restarting: retry the same id
        ids.append(message["id"])
        k += 1
        await asyncio.sleep(0.05)
    return ids


async def test_500_streams_resume_through_three_sigterm_restarts_losing_nothing(
    restartable: Restartable,
) -> None:
    server = restartable
    await server.start()
    async with httpx.AsyncClient(timeout=10) as http:
        api = Api(f"{server.http_url}/trpc", http)
        users = [await api.register("rs") for _ in range(CLIENTS // CONNECTIONS_PER_USER)]
        senders = [await api.register("rsend") for _ in range(SENDERS)]
        room = await api.room(senders[0], *senders[1:], *users)
        ws_url = f"ws://127.0.0.1:{server.ws_port}"
        clients = [
            StreamClient(ws_url, users[i // CONNECTIONS_PER_USER].token, room["id"])
            for i in range(CLIENTS)
        ]
        tasks = [asyncio.ensure_future(c.run()) for c in clients]
        started = time.monotonic()
        deadline = time.monotonic() + 60
        while sum(c.connects > 0 for c in clients) < CLIENTS:
            assert time.monotonic() < deadline, "clients did not connect"
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # subscriptions started

        connected = time.monotonic()
        done_restarting = asyncio.Event()
        sending = asyncio.ensure_future(
            asyncio.gather(
                *(_send(api, s, i, room["id"], done_restarting) for i, s in enumerate(senders))
            )
        )
        stops: list[float] = []
        last_restart = 0.0
        for _ in range(RESTARTS):
            await asyncio.sleep(1.0)
            stops.append(await server.sigterm())
            last_restart = time.monotonic()  # the old process has exited
            await server.start()
        await asyncio.sleep(0.5)
        done_restarting.set()
        sent_by = await asyncio.wait_for(sending, 120)
        restarted = time.monotonic()
        sent = [mid for ids in sent_by for mid in ids]
        expected = set(sent)

        deadline = time.monotonic() + 60
        while any(len(set(c.message_ids)) < len(expected) for c in clients):
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        delivered = time.monotonic()
        for c in clients:
            c.stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)

    lost = sum(len(expected - set(c.message_ids)) for c in clients)
    duplicated = sum(len(c.message_ids) - len(set(c.message_ids)) for c in clients)
    # A client may sit out a whole short up-time in its backoff (on a loaded machine), so
    # "resumed" means connected again after the last restart, which is what a user sees.
    resumed = sum(c.last_connect > last_restart for c in clients)
    errors = [e for c in clients for e in c.errors]
    behind = [c for c in clients if set(c.message_ids) != expected]
    if behind:
        print(
            f"\n{len(behind)} clients behind, e.g. last id {behind[0].last_event_id} "
            f"after {behind[0].connects} connects, {len(behind[0].message_ids)} events"
        )
    print(
        f"\nrestarts={RESTARTS} (SIGTERM to exit: {', '.join(f'{s:.1f}s' for s in stops)}) "
        f"clients={CLIENTS} senders={SENDERS} messages={len(sent)} "
        f"deliveries={sum(len(c.message_ids) for c in clients)} "
        f"resumed={resumed} lost={lost} duplicated={duplicated}; "
        f"connect {connected - started:.1f}s, send and restart {restarted - connected:.1f}s, "
        f"catch up {delivered - restarted:.1f}s"
    )
    assert len(expected) == len(sent)  # retried sends stored once
    error_frames = [e for c in clients for e in c.error_frames]
    assert not error_frames, error_frames[:5]
    assert resumed == CLIENTS, "not every client reconnected after the last restart"
    assert lost == 0 and duplicated == 0, errors[:5]
    for c in clients:
        assert all(a < b for a, b in zip(c.seqs, c.seqs[1:], strict=False)), (
            "event ids not increasing"
        )
