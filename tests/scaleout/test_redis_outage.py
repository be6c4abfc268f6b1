"""Redis lost mid-run: sends keep being stored, live delivery resumes once the broker is
back, and every subscriber catches up from the database log with nothing lost or
duplicated (hub.py: resubscribe + catch-up after a broker loss)."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from .clients import Api, Proc, Subscriber, audit, send_all, subscribe_all, summarize
from .conftest import REDIS_URL, PrivateRedis, redis_client

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

MESSAGES = 2000
SUBSCRIBERS_PER_PROCESS = 8


async def _setup(
    cluster: Callable[..., list[Proc]], api: Api, processes: int = 2, **env: str
) -> tuple[list[Proc], list[Subscriber], list[tuple[Proc, Any]], int]:
    procs = cluster(processes, **env)
    n_subs = SUBSCRIBERS_PER_PROCESS * processes
    users = await api.users(procs, n_subs + 2 * processes)
    readers, writers = users[:n_subs], users[n_subs:]
    room_id = await api.room(procs[0], writers[0], users)
    subs = [Subscriber(procs, i, u.token, room_id) for i, u in enumerate(readers)]
    await subscribe_all(subs)
    plan = [(procs[i % processes], w) for i, w in enumerate(writers)]
    return procs, subs, plan, room_id


def _resubscribes(procs: list[Proc]) -> int:
    """How many times the processes' room channels logged a lost broker subscription."""
    return sum(p.log().count("broker subscription lost") for p in procs)


def _report(
    name: str, procs: list[Proc], subs: list[Subscriber], sent: list[int], **extra: Any
) -> dict[str, Any]:
    audits = {
        f"sub{i}@{s.history}": audit(s.ids, range(1, MESSAGES + 1)) for i, s in enumerate(subs)
    }
    figures = {
        "processes": len(procs),
        "subscribers": len(subs),
        "messages": len(sent),
        **extra,
        "lost": sum(len(a.lost) for a in audits.values()),
        "duplicated": sum(len(a.duplicated) for a in audits.values()),
        "out_of_order": sum(len(a.out_of_order) for a in audits.values()),
        "ws_reconnects": sum(s.disconnects for s in subs),
        "channel_resubscribes": _resubscribes(procs),
    }
    print(f"\n[scaleout {name}] " + " ".join(f"{k}={v}" for k, v in figures.items()))
    assert len(set(sent)) == MESSAGES
    assert all(a.ok for a in audits.values()), summarize(audits)
    assert all(s.message_ids == subs[0].message_ids for s in subs)
    assert sorted(subs[0].message_ids) == sorted(sent)
    return figures


def _named(admin: Any, name: str) -> set[str]:
    """Ids of the connections named ``name``."""
    return {client["id"] for client in admin.client_list() if client["name"] == name}


def _kill_named(admin: Any, name: str, kind: str) -> int:
    """CLIENT KILL TYPE ``kind``, narrowed to the connections named ``name``: other runs
    sharing this Redis keep theirs. Returns how many were killed."""
    killed = 0
    for client in admin.client_list(_type=kind):
        if client["name"] == name:
            # 0 when the connection went away between the listing and the kill.
            killed += int(admin.client_kill_filter(_id=client["id"], _type=kind))
    return killed


async def test_subscribers_catch_up_after_pubsub_connections_are_killed(
    cluster: Callable[..., list[Proc]], api: Api
) -> None:
    # redis-py sets CLIENT SETNAME from the URL's client_name on every connection it
    # opens, the pub/sub ones and the reconnections included.
    name = f"wirechat-outage-{secrets.token_hex(6)}"
    procs, subs, plan, room_id = await _setup(
        cluster, api, REDIS_URL=f"{REDIS_URL}?client_name={name}"
    )
    admin = redis_client()
    # Another run's connections, one of each type, under a name that merely starts
    # like this run's: they must survive every kill.
    bystander = redis_client(client_name=f"{name}-bystander")
    bystander.ping()
    # Its own client: a pool would hand the PING's connection to the subscription.
    bystander_channel = redis_client(client_name=f"{name}-bystander").pubsub()
    bystander_channel.subscribe(f"{name}:bystander")
    bystanders = _named(admin, f"{name}-bystander")
    sent: list[int] = []
    sending = asyncio.ensure_future(
        send_all(api, plan, room_id, MESSAGES, label="kill", concurrency=12, sent=sent)
    )
    killed_pubsub = killed_normal = kills = 0
    try:
        for fraction in (0.2, 0.45, 0.7):
            while len(sent) < MESSAGES * fraction and not sending.done():  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            # Through a separate connection: every process's pub/sub connection, then the
            # ordinary ones (PUBLISH, presence, rate limit).
            killed_pubsub += _kill_named(admin, name, "pubsub")
            killed_normal += _kill_named(admin, name, "normal")
            kills += 1
            await asyncio.sleep(0.3)
        survivors = _named(admin, f"{name}-bystander")
    finally:
        bystander_channel.close()
        bystander.close()
        admin.close()
        await sending
    results = await asyncio.gather(*(s.wait_count(MESSAGES, 30) for s in subs))
    for s in subs:
        await s.close()
    figures = _report(
        "pubsub-kill",
        procs,
        subs,
        sent,
        redis_restarts=kills,
        pubsub_connections_killed=killed_pubsub,
        normal_connections_killed=killed_normal,
    )
    assert killed_pubsub >= kills * len(procs)  # each kill hit every process
    assert killed_normal >= kills * len(procs)
    assert len(bystanders) == 2, bystanders
    assert survivors == bystanders, "a connection of another run was killed"
    assert figures["channel_resubscribes"] >= kills * len(procs), "the kills went unnoticed"
    assert all(results)


async def _ready(http: httpx.AsyncClient, proc: Proc) -> tuple[int, dict[str, Any]]:
    for attempt in range(3):
        try:
            response = await http.get(f"{proc.http_url}/ready", timeout=5)
            break
        except (httpx.RemoteProtocolError, httpx.ReadError):
            # A pooled keep-alive connection the server closed while it sat idle
            # (uvicorn closes connections idle for 5 s, less than the outage): ask again.
            if attempt == 2:
                raise
    return response.status_code, orjson.loads(response.content)


async def _wait_ready(
    http: httpx.AsyncClient, procs: list[Proc], status: int, within: float = 10.0
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + within
    while True:
        answers = await asyncio.gather(*(_ready(http, p) for p in procs))
        if all(code == status for code, _ in answers) or time.monotonic() > deadline:
            assert [c for c, _ in answers] == [status] * len(procs), answers
            return [body for _, body in answers]
        await asyncio.sleep(0.1)


async def test_subscribers_catch_up_after_redis_server_restart(
    cluster: Callable[..., list[Proc]],
    api: Api,
    http: httpx.AsyncClient,
    private_redis: PrivateRedis,
) -> None:
    procs, subs, plan, room_id = await _setup(cluster, api, REDIS_URL=private_redis.url)
    before, during = 700, 600
    sent: list[int] = []
    await send_all(api, plan, room_id, before, label="live1", concurrency=12, sent=sent)
    assert all(await asyncio.gather(*(s.wait_count(before, 30) for s in subs)))

    # The outage: this test's own Redis, stopped and started again.
    private_redis.stop()
    down_at = time.monotonic()
    bodies = await _wait_ready(http, procs, 503)
    for body in bodies:
        assert body["checks"]["database"] == "ok", body
        assert body["checks"]["broker"] != "ok", body
    # Sends during the outage succeed: they are stored, only live delivery waits.
    started = time.monotonic()
    await send_all(api, plan, room_id, during, label="down", concurrency=12, sent=sent)
    outage_send_rate = during / (time.monotonic() - started)
    assert len(sent) == before + during
    assert (await _wait_ready(http, procs, 503, within=0))[0]["checks"]["broker"] != "ok"
    received_during = max(len(set(s.ids)) for s in subs) - before
    private_redis.start()
    outage = time.monotonic() - down_at

    # Nothing new is sent: the catch-up after the resubscription alone completes everyone.
    up_at = time.monotonic()
    assert all(await asyncio.gather(*(s.wait_count(before + during, 20) for s in subs))), [
        len(set(s.ids)) for s in subs
    ]
    caught_up = time.monotonic() - up_at
    await _wait_ready(http, procs, 200)

    await send_all(api, plan, room_id, MESSAGES - before - during, label="live2", sent=sent)
    results = await asyncio.gather(*(s.wait_count(MESSAGES, 30) for s in subs))
    for s in subs:
        await s.close()
    _report(
        "redis-restart",
        procs,
        subs,
        sent,
        redis_restarts=1,
        outage_s=round(outage, 1),
        sent_during_outage=during,
        outage_send_per_s=round(outage_send_rate),
        delivered_live_during_outage=received_during,
        catch_up_s=round(caught_up, 1),
    )
    assert all(results)
