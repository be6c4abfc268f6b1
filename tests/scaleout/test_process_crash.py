"""A process dies with SIGKILL: its clients (the official @trpc/client) reconnect to
another process and resume with ``lastEventId`` without loss; presence on the surviving
processes drops the dead process's users within 30 s and shows them again once they
resubscribed elsewhere."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from .clients import Api, PresenceWatcher, Proc, audit, send_all, subscribe_all, summarize
from .conftest import NODE_DIR

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.node]

SCRIPT = NODE_DIR / "scaleout" / "crash_subscribers.mjs"
PER_PROCESS = 4
BEFORE, AROUND, AFTER = 200, 400, 200  # messages before, around and after the kill
KILL_AFTER = 100  # of the AROUND messages
TOTAL = BEFORE + AROUND + AFTER


class NodeSubscribers:
    """``crash_subscribers.mjs`` as a child process: lines from stdout, commands to stdin."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: asyncio.Queue[str] = asyncio.Queue()
        self.result: dict[str, Any] | None = None
        self.stderr = b""
        self._reader = asyncio.ensure_future(self._read())

    @classmethod
    async def start(cls, env: dict[str, str]) -> NodeSubscribers:
        proc = await asyncio.create_subprocess_exec(
            "node",
            str(SCRIPT),
            cwd=SCRIPT.parent,
            env={**os.environ, **env},
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=64 * 1024 * 1024,  # the RESULT line holds every id of every subscriber
        )
        return cls(proc)

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            line = raw.decode().rstrip("\n")
            if line.startswith("RESULT "):
                self.result = orjson.loads(line[7:])
            await self.lines.put(line)
        await self.lines.put("EOF")

    async def expect(self, prefix: str, within: float) -> str:
        async with asyncio.timeout(within):
            while True:
                line = await self.lines.get()
                if line.startswith(prefix):
                    return line
                if line == "EOF":
                    assert self.proc.stderr is not None
                    err = (await self.proc.stderr.read()).decode()[-3000:]
                    raise AssertionError(f"node ended before {prefix!r}:\n{err}")

    def command(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode() + b"\n")

    async def close(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        await self.proc.wait()
        self._reader.cancel()


async def test_clients_of_a_killed_process_resume_elsewhere_and_presence_follows(
    cluster: Callable[..., list[Proc]], api: Api, node_modules: Path
) -> None:
    procs = cluster(3)
    victim, survivors = procs[0], procs[1:]
    n_subs = PER_PROCESS * len(procs)
    users = await api.users(procs, n_subs + 1 + len(procs))
    readers, observer, writers = users[:n_subs], users[n_subs], users[n_subs + 1 :]
    room_id = await api.room(procs[1], writers[0], users)
    starts = [i % len(procs) for i in range(n_subs)]
    on_victim = {u.id for u, s in zip(readers, starts, strict=True) if s == 0}
    everyone = frozenset(u.id for u in readers)

    watcher = PresenceWatcher(survivors, 0, observer.token, room_id)
    await subscribe_all([watcher])
    node = await NodeSubscribers.start(
        {
            "PROCS": orjson.dumps([[p.http_url, p.ws_url] for p in procs]).decode(),
            "SUBSCRIBERS": orjson.dumps(
                [{"token": u.token, "start": s} for u, s in zip(readers, starts, strict=True)]
            ).decode(),
            "ROOM_ID": str(room_id),
            "EXPECTED": str(TOTAL),
            "TIMEOUT_MS": "100000",
        }
    )
    try:
        await node.expect("READY", 20)
        assert await watcher.wait_for(lambda online: online == everyone, 10) is not None, (
            watcher.snapshots[-3:]
        )

        sent: list[int] = []
        retries: list[str] = []
        all_plan = [(p, w) for p, w in zip(procs, writers, strict=True)]
        await send_all(api, all_plan, room_id, BEFORE, label="before", sent=sent)
        around = asyncio.ensure_future(
            send_all(api, all_plan, room_id, AROUND, label="around", sent=sent, retries=retries)
        )
        while len(sent) < BEFORE + KILL_AFTER:  # noqa: ASYNC110 - polls the sender's list
            await asyncio.sleep(0.005)
        victim.kill()
        killed_at = time.monotonic()
        await around

        # Reconnections are held: the victim's users are offline everywhere.
        offline_after = await watcher.wait_for(lambda online: online == everyone - on_victim, 35)
        offline_s = time.monotonic() - killed_at
        assert offline_after is not None, (
            f"presence still {sorted(watcher.online)} {offline_s:.1f} s after the kill; "
            f"victim's users {sorted(on_victim)}"
        )
        node.command("RELEASE")
        released_at = time.monotonic()
        back_after = await watcher.wait_for(lambda online: online == everyone, 15)
        assert back_after is not None, watcher.snapshots[-3:]

        survivor_plan = [(p, w) for p, w in zip(survivors, writers[1:], strict=True)]
        await send_all(api, survivor_plan, room_id, AFTER, label="after", sent=sent)
        with contextlib.suppress(TimeoutError):
            await node.expect("RESULT", 45)  # else FINISH below: the audit tells what is missing
    finally:
        node.command("FINISH")
        with contextlib.suppress(Exception):
            await node.expect("RESULT", 5)
        await node.close()
        await watcher.close()

    result = node.result
    assert result is not None
    subs = result["subscribers"]
    audits = {
        f"sub{s['index']}@{[u.rsplit(':', 1)[1] for u in s['urls']]}": audit(
            s["ids"], range(1, TOTAL + 1)
        )
        for s in subs
    }
    moved = [s for s in subs if starts[s["index"]] == 0]
    print(
        f"\n[scaleout sigkill] processes={len(procs)} subscribers={n_subs} "
        f"messages={len(sent)} redis_restarts=0 killed_process={victim.name} "
        f"victim_clients={len(moved)} "
        f"reconnected_elsewhere={sum(1 for s in moved if s['urls'][-1] != victim.ws_url)} "
        f"send_retries={len(retries)} "
        f"lost={sum(len(a.lost) for a in audits.values())} "
        f"duplicated={sum(len(a.duplicated) for a in audits.values())} "
        f"out_of_order={sum(len(a.out_of_order) for a in audits.values())} "
        f"offline_after_kill_s={offline_s:.1f} back_online_after_release_s="
        f"{time.monotonic() - released_at if back_after is None else back_after:.1f} "
        f"finish={result['reason']}"
    )
    assert len(set(sent)) == TOTAL
    assert offline_s <= 30
    assert all(a.ok for a in audits.values()), summarize(audits)
    for s in moved:
        assert len(s["urls"]) >= 2 and s["urls"][-1] != victim.ws_url, s["urls"]
    for s in subs:
        if starts[s["index"]] != 0:
            assert s["urls"] == [procs[starts[s["index"]]].ws_url], s["urls"]
    assert all(s["messageIds"] == subs[0]["messageIds"] for s in subs)
    assert sorted(subs[0]["messageIds"]) == sorted(sent)
