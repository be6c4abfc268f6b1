"""No message is lost, duplicated or reordered while connections keep dropping.

Three senders post 1,000 messages in total into one room over HTTP while five
subscribers (the unmodified ``@trpc/client`` wsLink under Node, ``messages.onMessage``
with tracked ids) have their sockets terminated at random moments. The real client
reconnects by itself and resubscribes with ``lastEventId``; the server replays from the
database and continues live (docs/api.md "Message stream and resume").
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from .clients import Api, User
from .conftest import NODE_DIR, Server

SCRIPT = NODE_DIR / "chat" / "loss_subscribers.mjs"
MESSAGES = 1000
SENDERS = 3
SUBSCRIBERS = 5

pytestmark = pytest.mark.node


async def _read_line(stream: asyncio.StreamReader, prefix: str, within: float) -> str:
    deadline = time.monotonic() + within
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no {prefix!r} line from node within {within} s")
        line = await asyncio.wait_for(stream.readline(), remaining)
        if not line:
            raise AssertionError(f"node exited before printing {prefix!r}")
        text = line.decode().rstrip("\n")
        if text.startswith(prefix):
            return text[len(prefix) :].strip()


async def _send_all(api: Api, sender: User, index: int, room_id: int, count: int) -> list[int]:
    ids = []
    for k in range(count):
        message = await api.send(
            sender, room_id, f"s{index}-{k}", clientMessageId=f"loss-{index}-{k}"
        )
        ids.append(message["id"])
    return ids


async def test_subscribers_killed_at_random_end_with_every_message_once_in_order(
    api: Api, server: Server, node_modules: Path
) -> None:
    node = shutil.which("node")
    assert node, "node is not installed"
    users = await asyncio.gather(*(api.register("loss") for _ in range(SENDERS + SUBSCRIBERS)))
    senders, subscribers = users[:SENDERS], users[SENDERS:]
    room = await api.room(senders[0], *senders[1:], *subscribers)

    env = {
        **os.environ,
        "WS_URL": server.ws_url,
        "TOKENS": json.dumps([u.token for u in subscribers]),
        "ROOM_ID": str(room["id"]),
        "EXPECTED": str(MESSAGES),
        "KILL_MIN_MS": "100",
        "KILL_MAX_MS": "700",
        "TIMEOUT_MS": "55000",
    }
    proc = await asyncio.create_subprocess_exec(
        node,
        str(SCRIPT),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        limit=64 * 1024 * 1024,
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        await _read_line(proc.stdout, "READY", 20)
        started = time.monotonic()
        shares = [MESSAGES // SENDERS + (i < MESSAGES % SENDERS) for i in range(SENDERS)]
        sent_by = await asyncio.gather(
            *(_send_all(api, sender, i, room["id"], shares[i]) for i, sender in enumerate(senders))
        )
        send_seconds = time.monotonic() - started
        result = json.loads(await _read_line(proc.stdout, "RESULT", 60))
        total_seconds = time.monotonic() - started
        await asyncio.wait_for(proc.wait(), 10)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    stderr = (await proc.stderr.read()).decode(errors="replace")

    sent = {mid for ids in sent_by for mid in ids}
    assert len(sent) == MESSAGES
    kills = sum(s["kills"] for s in result["subscribers"])
    reconnects = sum(s["opens"] - 1 for s in result["subscribers"])
    lost = duplicated = 0
    problems: list[str] = []
    reference: list[int] | None = None
    for sub in result["subscribers"]:
        events: list[list[Any]] = sub["events"]
        seqs = [int(e[0]) for e in events]
        mids = [e[2] for e in events]
        lost += len(sent - set(mids))
        duplicated += len(mids) - len(set(mids))
        label = f"subscriber {sub['index']}"
        if sub["errors"]:
            problems.append(f"{label}: errors {sub['errors'][:3]}")
        if seqs != list(range(1, len(seqs) + 1)):
            bad = next(i for i, s in enumerate(seqs) if s != i + 1)
            problems.append(f"{label}: tracked ids not 1..n, first break at #{bad}: {seqs[bad]}")
        if len(events) != MESSAGES:
            problems.append(f"{label}: {len(events)} events, expected {MESSAGES}")
        if {e[1] for e in events} - {"created"}:
            problems.append(f"{label}: unexpected event types { ({e[1] for e in events}) }")
        for index in range(SENDERS):
            texts = [int(e[3].split("-")[1]) for e in events if e[3].startswith(f"s{index}-")]
            if texts != sorted(texts):
                problems.append(f"{label}: sender {index}'s messages out of order")
        if reference is None:
            reference = mids
        elif mids != reference:
            problems.append(f"{label}: order differs from subscriber 0")

    print(
        f"\n[loss/{server.db}] messages={MESSAGES} senders={SENDERS} "
        f"subscribers={SUBSCRIBERS} kills={kills} reconnects={reconnects} "
        f"lost={lost} duplicated={duplicated} sending={send_seconds:.1f}s "
        f"all-delivered={total_seconds:.1f}s timed_out={result['timedOut']}"
    )
    assert not result["timedOut"] or problems, "timed out"
    assert not problems, "\n".join(problems) + ("\n" + stderr[-2000:] if stderr else "")
    assert lost == 0 and duplicated == 0
    assert kills >= SUBSCRIBERS, f"only {kills} kills: the test did not exercise reconnects"
