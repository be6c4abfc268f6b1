"""The send rate limit (RATE_LIMIT_MESSAGES per RATE_LIMIT_WINDOW_SECONDS per user) holds
across processes: it is counted in Redis, not per process."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from .clients import Api, Proc, TRPCError

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

LIMIT = 30


async def test_thirty_sends_over_two_processes_make_the_31st_too_many_requests(
    cluster: Callable[..., list[Proc]], api: Api
) -> None:
    procs = cluster(2, RATE_LIMIT_MESSAGES=str(LIMIT))
    sender, other = await api.users(procs, 2)
    room_id = await api.room(procs[0], sender, [other])

    async def send(proc: Proc, token: str, i: int) -> None:
        await api.call(proc, "messages.send", {"roomId": room_id, "text": f"m{i}"}, token)

    for i in range(LIMIT):  # alternately on each process: 15 + 15
        await send(procs[i % 2], sender.token, i)
    refused = []
    for proc in procs:  # the 31st, and a 32nd on the other process
        with pytest.raises(TRPCError) as info:
            await send(proc, sender.token, LIMIT)
        refused.append((proc.name, info.value.http_status, info.value.code))
    await send(procs[1], other.token, 0)  # another user is not affected
    print(
        f"\n[scaleout ratelimit] processes={len(procs)} limit={LIMIT} "
        f"accepted={LIMIT} (15 per process) refused={refused}"
    )
    assert [code for _, _, code in refused] == ["TOO_MANY_REQUESTS"] * 2
    assert [status for _, status, _ in refused] == [429, 429]
