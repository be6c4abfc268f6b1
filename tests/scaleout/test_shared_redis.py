"""Two deployments (each its own database) pointed at the same Redis server.

Redis pub/sub channels are global to a Redis server: the database number in
``REDIS_URL`` does not separate them (broker/redis.py says so), and the topic of a room
is ``room:<id>`` with nothing of the database in it. Room ids of two databases collide
as a matter of course (both start at 1), so one deployment's subscribers receive the
other's events - and since the foreign events carry seq numbers, the room channel then
drops the deployment's own events as already seen.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Iterator

import pytest

from .clients import Api, Proc, Subscriber, audit, send_all, subscribe_all
from .conftest import REDIS_HOST, REDIS_PORT, fresh_database

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture(scope="module")
def two_databases() -> Iterator[tuple[str, str]]:
    """Two databases whose room and user ids start at the same number."""
    start = secrets.randbelow(10**9) + 10**6
    with fresh_database(start) as first, fresh_database(start) as second:
        yield first, second


async def test_deployments_sharing_a_redis_server_do_not_see_each_other(
    cluster: Callable[..., list[Proc]], api: Api, two_databases: tuple[str, str]
) -> None:
    (a,) = cluster(1, DATABASE_URL=two_databases[0])
    (b,) = cluster(
        1, DATABASE_URL=two_databases[1], REDIS_URL=f"redis://{REDIS_HOST}:{REDIS_PORT}/1"
    )
    alice, bob = await api.register(a), await api.register(b)
    room_a = await api.room(a, alice, [])
    room_b = await api.room(b, bob, [])
    assert room_a == room_b  # the same id, in two unrelated databases

    watcher = Subscriber([a], 0, alice.token, room_a)
    await subscribe_all([watcher])
    await send_all(api, [(b, bob)], room_b, 5, label="other-deployment", concurrency=1)
    own = await send_all(api, [(a, alice)], room_a, 3, label="own", concurrency=1)
    await watcher.wait_count(3, 3)
    await asyncio.sleep(0.5)
    await watcher.close()
    expected = [f"own {i}" for i in range(3)]
    foreign = [t for t in watcher.texts if not t.startswith("own")]
    lost = [t for t in expected if t not in watcher.texts]
    print(
        f"\n[scaleout shared-redis] deployments=2 room_id={room_a} messages={len(own)} "
        f"subscribers=1 received_seq={watcher.ids} received_texts={watcher.texts} "
        f"foreign={len(foreign)} lost={len(lost)} {lost} "
        f"duplicated={len(audit(watcher.ids, []).duplicated)}"
    )
    assert watcher.texts == expected
