"""``rooms.*`` through the wire: public listing pages, direct rooms, leaving ends streams."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from .clients import Api, Subscription, TRPCError, WSClient, issue_paths


async def test_list_public_pages_public_rooms_only_until_next_cursor_is_null(api: Api) -> None:
    alice = await api.register("pub")
    bob = await api.register("pub")
    marker = await api.room(alice)  # rooms made by other tests all have smaller ids
    first = await api.room(alice, bob)
    await api.room(alice, private=True)
    second = await api.room(alice)
    third = await api.room(bob)

    page1 = await api.call("rooms.listPublic", {"cursor": marker["id"], "limit": 2}, bob.token)
    assert [r["id"] for r in page1["items"]] == [first["id"], second["id"]]
    assert page1["items"][0]["memberCount"] == 2
    assert page1["items"][0]["isPrivate"] is False
    assert page1["nextCursor"] == second["id"]
    page2 = await api.call(
        "rooms.listPublic", {"cursor": page1["nextCursor"], "limit": 2}, bob.token
    )
    assert [r["id"] for r in page2["items"]] == [third["id"]]
    assert page2["nextCursor"] is None
    after_last = await api.call("rooms.listPublic", {"cursor": third["id"]}, bob.token)
    assert after_last == {"items": [], "nextCursor": None}

    default = await api.call("rooms.listPublic", None, bob.token)
    assert 1 <= len(default["items"]) <= 50
    assert all(not r["isPrivate"] for r in default["items"])
    for limit in (0, 101):
        with pytest.raises(TRPCError) as info:
            await api.call("rooms.listPublic", {"limit": limit}, bob.token)
        assert info.value.code == "BAD_REQUEST"
        assert ["limit"] in issue_paths(info.value)
    assert len((await api.call("rooms.listPublic", {"limit": 100}, bob.token))["items"]) <= 100


async def test_open_direct_returns_the_same_private_two_member_room_from_both_sides(
    api: Api,
) -> None:
    alice = await api.register("dm")
    bob = await api.register("dm")
    rooms = await asyncio.gather(
        *(api.call("rooms.openDirect", {"userId": bob.id}, alice.token) for _ in range(5)),
        *(api.call("rooms.openDirect", {"userId": alice.id}, bob.token) for _ in range(5)),
    )
    assert len({r["id"] for r in rooms}) == 1
    room = rooms[0]
    assert room["isPrivate"] is True and room["isDirect"] is True
    assert room["memberCount"] == 2
    listed = await api.call("rooms.list", None, bob.token)
    assert room["id"] in [r["id"] for r in listed]


async def _until_stopped(sub: Subscription, within: float = 5.0) -> list[dict[str, Any]]:
    """Frames of ``sub`` up to and including its end (``stopped`` or an error)."""
    frames = []
    while True:
        frame = await sub.next(within)
        frames.append(frame)
        if "error" in frame or frame["result"]["type"] == "stopped":
            return frames


async def test_leaving_ends_the_leavers_streams_while_other_members_continue(
    api: Api, ws: Callable[..., Any]
) -> None:
    owner = await api.register("leave")
    leaver = await api.register("leave")
    stayer = await api.register("leave")
    room = await api.room(owner, leaver, stayer)
    rid = {"roomId": room["id"]}
    streams: dict[str, dict[str, Subscription]] = {}
    for who, user in (("leaver", leaver), ("stayer", stayer)):
        client: WSClient = await ws(user.token)
        streams[who] = {
            path: await client.subscribe(path, rid)
            for path in ("messages.onMessage", "typing.onTyping", "presence.onPresence")
        }
        for sub in streams[who].values():
            await sub.started()
    # Settle presence: drain snapshots until both are online for the stayer.
    stayer_presence = streams["stayer"]["presence.onPresence"]
    while True:
        snap = await stayer_presence.data()
        if {u["id"] for u in snap["online"]} == {leaver.id, stayer.id}:
            break

    assert await api.call("rooms.leave", rid, leaver.token) == {"ok": True}

    for path, sub in streams["leaver"].items():
        frames = await _until_stopped(sub)
        *before, end = frames
        assert end.get("result", {}).get("type") == "stopped" or "error" in end, (path, end)
        if path != "presence.onPresence":
            assert before == [], (path, before)  # no event of the room after leaving

    await api.send(owner, room["id"], "after the leave")
    event = await streams["stayer"]["messages.onMessage"].data()
    assert event["data"]["message"]["text"] == "after the leave"
    await api.call("typing.set", {**rid, "isTyping": True}, owner.token)
    typing = await streams["stayer"]["typing.onTyping"].data()
    assert typing["user"]["id"] == owner.id and typing["isTyping"] is True
    snap = await stayer_presence.data()
    assert [u["id"] for u in snap["online"]] == [stayer.id]

    with pytest.raises(TRPCError) as info:
        await api.call("messages.list", rid, leaver.token)
    assert info.value.code == "FORBIDDEN"
    members = await api.call("rooms.members", rid, owner.token)
    assert leaver.id not in [u["id"] for u in members]
