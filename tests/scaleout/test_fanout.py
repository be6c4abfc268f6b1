"""Several processes behave as one server: every event reaches every subscriber on
every process, complete, in order, exactly once (docs/api.md "Several processes")."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from .clients import Api, Proc, Subscriber, audit, send_all, subscribe_all, summarize

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

MESSAGES = 2000


@pytest.mark.parametrize("processes", [2, 3])
async def test_every_subscriber_on_every_process_gets_every_event_in_order_once(
    cluster: Callable[..., list[Proc]], api: Api, processes: int
) -> None:
    procs = cluster(processes)
    subscribers_per_process = 8
    n_subs = subscribers_per_process * processes
    senders_per_process = 2
    users = await api.users(procs, n_subs + senders_per_process * processes)
    readers, writers = users[:n_subs], users[n_subs:]
    room_id = await api.room(procs[0], writers[0], users)

    subs = [Subscriber(procs, i, u.token, room_id) for i, u in enumerate(readers)]
    await subscribe_all(subs)
    # A sender on every process; 12 sends in flight at once, so events of the room are
    # committed on one process while another publishes (publication order != seq order).
    plan = [(procs[i % processes], w) for i, w in enumerate(writers)]
    started = time.monotonic()
    sent = await send_all(api, plan, room_id, MESSAGES, label="fan", concurrency=12)
    send_seconds = time.monotonic() - started
    await asyncio.gather(*(s.wait_count(MESSAGES, 30) for s in subs))
    deliver_seconds = time.monotonic() - started
    for s in subs:
        await s.close()

    audits = {
        f"sub{i}@{s.history}": audit(s.ids, range(1, MESSAGES + 1)) for i, s in enumerate(subs)
    }
    lost = sum(len(a.lost) for a in audits.values())
    duplicated = sum(len(a.duplicated) for a in audits.values())
    disorder = sum(len(a.out_of_order) for a in audits.values())
    print(
        f"\n[scaleout fanout] processes={processes} subscribers={n_subs} "
        f"senders={len(writers)} messages={len(sent)} redis_restarts=0 "
        f"deliveries={sum(len(s.ids) for s in subs)} lost={lost} duplicated={duplicated} "
        f"out_of_order={disorder} send_s={send_seconds:.1f} "
        f"all_delivered_s={deliver_seconds:.1f} reconnects={sum(s.disconnects for s in subs)}"
    )
    assert len(set(sent)) == MESSAGES
    assert all(a.ok for a in audits.values()), summarize(audits)
    # The event with seq n carries the same message for everyone, and those are the sent ones.
    assert all(s.message_ids == subs[0].message_ids for s in subs)
    assert sorted(subs[0].message_ids) == sorted(sent)
    assert not any(s.errors for s in subs), [s.errors for s in subs if s.errors][:3]
