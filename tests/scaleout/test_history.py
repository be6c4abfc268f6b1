"""``messages.list`` across processes: each process keeps the pages it read, and a
send, edit or delete on another process shows in its next page at once; so does a
removal from the room (FORBIDDEN), whatever the reader's process kept."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from .clients import Api, Proc, TRPCError, User

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


async def _page(api: Api, proc: Proc, user: User, room_id: int, **extra: Any) -> Any:
    return await api.call(proc, "messages.list", {"roomId": room_id, **extra}, user.token)


def _texts(page: Any) -> list[str]:
    return [item["text"] for item in page["items"]]


async def test_changes_on_one_process_show_in_the_next_page_read_on_another(
    cluster: Callable[..., list[Proc]], api: Api
) -> None:
    a, b = cluster(2)
    alice, bob = await api.register(a), await api.register(b)
    room_id = await api.room(a, alice, [bob])
    sent = [
        await api.call(a, "messages.send", {"roomId": room_id, "text": f"m{i}"}, alice.token)
        for i in range(3)
    ]
    first = await _page(api, b, bob, room_id)
    assert _texts(first) == ["m2", "m1", "m0"]
    assert await _page(api, b, bob, room_id) == first  # read again: kept by b

    await api.call(a, "messages.send", {"roomId": room_id, "text": "m3"}, alice.token)
    assert _texts(await _page(api, b, bob, room_id)) == ["m3", "m2", "m1", "m0"]

    await api.call(
        a, "messages.edit", {"messageId": sent[1]["id"], "text": "m1 again"}, alice.token
    )
    edited = await _page(api, b, bob, room_id)
    assert _texts(edited) == ["m3", "m2", "m1 again", "m0"]
    assert edited["items"][2]["editedAt"] is not None

    await api.call(a, "messages.delete", {"messageId": sent[2]["id"]}, alice.token)
    assert _texts(await _page(api, b, bob, room_id)) == ["m3", "m1 again", "m0"]

    # An older page (by cursor) kept by b changes too.
    older = await _page(api, b, bob, room_id, cursor=sent[1]["id"] + 1, limit=1)
    assert _texts(older) == ["m1 again"]
    await api.call(a, "messages.delete", {"messageId": sent[1]["id"]}, alice.token)
    assert _texts(await _page(api, b, bob, room_id, cursor=sent[1]["id"] + 1, limit=1)) == ["m0"]


async def test_a_member_removed_on_one_process_is_refused_the_page_another_kept(
    cluster: Callable[..., list[Proc]], api: Api
) -> None:
    a, b = cluster(2)
    alice, bob = await api.register(a), await api.register(b)
    room_id = await api.room(a, alice, [bob])
    await api.call(a, "messages.send", {"roomId": room_id, "text": "hi"}, alice.token)
    assert _texts(await _page(api, b, bob, room_id)) == ["hi"]

    await api.call(a, "rooms.removeMember", {"roomId": room_id, "userId": bob.id}, alice.token)
    with pytest.raises(TRPCError) as refused:
        await _page(api, b, bob, room_id)
    assert refused.value.code == "FORBIDDEN"
