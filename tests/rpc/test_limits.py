"""The bounded output buffer every transport writes through."""

from __future__ import annotations

import asyncio

import pytest

from wirechat.rpc.limits import Outbox


async def test_outbox_hands_chunks_out_in_order_and_counts_pending_bytes() -> None:
    outbox = Outbox(10)
    assert outbox.put(b"abc")
    assert outbox.put(b"de")
    assert outbox.pending == 5
    assert await outbox.get() == b"abc"
    assert outbox.pending == 2


async def test_outbox_over_the_limit_drops_everything_and_refuses_more() -> None:
    outbox = Outbox(4)
    assert outbox.put(b"abc")
    assert not outbox.put(b"de")
    assert outbox.overflowed and outbox.closed
    assert outbox.pending == 0
    assert await outbox.get() is None
    assert not outbox.put(b"x")


async def test_outbox_returns_what_is_queued_after_close_then_none() -> None:
    outbox = Outbox(100)
    outbox.put(b"last")
    outbox.close()
    assert await outbox.get() == b"last"
    assert await outbox.get() is None
    assert not outbox.overflowed


async def test_outbox_get_waits_for_a_put() -> None:
    outbox = Outbox(100)
    waiting = asyncio.ensure_future(outbox.get())
    await asyncio.sleep(0)
    outbox.put(b"now")
    assert await asyncio.wait_for(waiting, 1) == b"now"


async def test_outbox_get_times_out_without_data() -> None:
    outbox = Outbox(100)
    with pytest.raises(TimeoutError):
        await outbox.get(0.01)
    outbox.put(b"later")
    assert await outbox.get(0.01) == b"later"
