"""Who may call what: every procedure (docs/api.md "Procedures") x every kind of caller.

Callers: ``anonymous`` (no token), ``outsider`` (signed in, not in the room), ``member``
(in the room, neither its owner nor the message's author), ``author`` (member who wrote
the message), ``owner`` (created the room), ``removed`` (was a member until the owner
removed them), ``missing`` (signed in, the room / message / user / token does not
exist). Queries and mutations go over HTTP, subscriptions over WebSocket, where a
refusal is the error frame alone: no ``started``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from .clients import KINDS, PASSWORD, Api, TRPCError, User, unique_name

OK = "OK"
NOWHERE = 2**40  # an id no row has


@dataclass
class World:
    owner: User
    author: User
    member: User
    outsider: User
    removed: User  # removed from room and private by the owner
    room: dict[str, Any]  # public, owner + author + member
    private: dict[str, Any]  # private, owner + author + member
    direct: dict[str, Any]  # owner's direct room with member
    message: dict[str, Any]  # by author, in room

    def caller(self, role: str) -> User | None:
        return None if role == "anonymous" else getattr(self, role, self.member)


async def make_world(api: Api) -> World:
    owner, author, member, outsider, removed = await asyncio.gather(
        *(api.register(name) for name in ("owner", "author", "member", "outsider", "removed"))
    )
    room, private, direct = await asyncio.gather(
        api.room(owner, author, member, removed),
        api.room(owner, author, member, removed, private=True),
        api.call("rooms.openDirect", {"userId": member.id}, owner.token),
    )
    message = await api.send(author, room["id"], "hello")
    for r in (room, private):
        await api.call("rooms.removeMember", {"roomId": r["id"], "userId": removed.id}, owner.token)
    return World(owner, author, member, outsider, removed, room, private, direct, message)


Input = Callable[[World, bool], Any]
"""(world, missing) -> the input; ``missing`` asks for an id that does not exist."""


def room_id(w: World, missing: bool) -> dict[str, Any]:
    return {"roomId": NOWHERE if missing else w.room["id"]}


def message_id(w: World, missing: bool) -> dict[str, Any]:
    return {"messageId": NOWHERE if missing else w.message["id"]}


@dataclass(frozen=True)
class Row:
    label: str
    path: str
    input: Input
    expect: dict[str, str]


A, F, N, B = "UNAUTHORIZED", "FORBIDDEN", "NOT_FOUND", "BAD_REQUEST"

MEMBER_ONLY = {
    "anonymous": A,
    "outsider": F,
    "removed": F,
    "member": OK,
    "owner": OK,
    "missing": N,
}

MATRIX: list[Row] = [
    Row(
        "auth.register",
        "auth.register",
        lambda w, m: {"username": unique_name("new"), "password": PASSWORD},
        {"anonymous": OK},
    ),
    Row(
        "auth.login",
        "auth.login",
        lambda w, m: {"username": w.owner.username, "password": PASSWORD},
        {"anonymous": OK, "outsider": OK},
    ),
    Row("auth.me", "auth.me", lambda w, m: None, {"anonymous": A, "outsider": OK}),
    Row(
        "auth.refresh",
        "auth.refresh",
        lambda w, m: {"refreshToken": "no-such-token" if m else w.owner.refresh_token},
        {"anonymous": OK, "outsider": OK, "missing": A},
    ),
    Row(
        "auth.useToken",
        "auth.useToken",
        lambda w, m: {"token": "not.a.token" if m else w.owner.token},
        {"anonymous": OK, "owner": OK, "missing": A},
    ),
    Row("auth.logout", "auth.logout", lambda w, m: None, {"anonymous": A, "outsider": OK}),
    Row("auth.logoutAll", "auth.logoutAll", lambda w, m: None, {"anonymous": A, "outsider": OK}),
    Row(
        "auth.changePassword",
        "auth.changePassword",
        lambda w, m: {"currentPassword": PASSWORD, "newPassword": "another password"},
        {"anonymous": A, "outsider": OK},
    ),
    Row(
        "auth.changePassword wrong current password",
        "auth.changePassword",
        lambda w, m: {"currentPassword": "not the password", "newPassword": "another password"},
        {"outsider": F},
    ),
    Row(
        "users.get",
        "users.get",
        lambda w, m: {"userId": NOWHERE if m else w.owner.id},
        {"anonymous": A, "outsider": OK, "missing": N},
    ),
    Row(
        "rooms.create",
        "rooms.create",
        lambda w, m: {"name": "new room"},
        {"anonymous": A, "outsider": OK},
    ),
    Row(
        "rooms.openDirect",
        "rooms.openDirect",
        lambda w, m: {"userId": NOWHERE if m else w.owner.id},
        {"anonymous": A, "outsider": OK, "missing": N},
    ),
    Row("rooms.list", "rooms.list", lambda w, m: None, {"anonymous": A, "outsider": OK}),
    Row(
        "rooms.listPublic",
        "rooms.listPublic",
        lambda w, m: {"limit": 5},
        {"anonymous": A, "outsider": OK},
    ),
    Row(
        "rooms.join public",
        "rooms.join",
        room_id,
        {"anonymous": A, "outsider": OK, "member": OK, "owner": OK, "missing": N},
    ),
    Row(
        "rooms.join public again after removal",
        "rooms.join",
        room_id,
        {"removed": OK},
    ),
    Row(
        "rooms.join private",
        "rooms.join",
        lambda w, m: {"roomId": w.private["id"]},
        {"anonymous": A, "outsider": F, "removed": F, "member": OK},
    ),
    Row("rooms.leave", "rooms.leave", room_id, MEMBER_ONLY),
    Row(
        "rooms.addMember",
        "rooms.addMember",
        lambda w, m: {"roomId": NOWHERE if m else w.room["id"], "userId": w.outsider.id},
        {"anonymous": A, "outsider": F, "member": F, "owner": OK, "missing": N},
    ),
    Row(
        "rooms.removeMember",
        "rooms.removeMember",
        lambda w, m: {"roomId": NOWHERE if m else w.room["id"], "userId": w.author.id},
        {"anonymous": A, "outsider": F, "removed": F, "member": F, "owner": OK, "missing": N},
    ),
    Row(
        "rooms.removeMember the owner",
        "rooms.removeMember",
        lambda w, m: {"roomId": w.room["id"], "userId": w.owner.id},
        {"owner": B, "member": F},
    ),
    Row(
        "rooms.removeMember a non-member",
        "rooms.removeMember",
        lambda w, m: {"roomId": w.room["id"], "userId": w.outsider.id},
        {"owner": B},
    ),
    Row(
        "rooms.removeMember someone already removed",
        "rooms.removeMember",
        lambda w, m: {"roomId": w.room["id"], "userId": w.removed.id},
        {"owner": B},
    ),
    Row(
        "rooms.removeMember from a direct room",
        "rooms.removeMember",
        lambda w, m: {"roomId": w.direct["id"], "userId": w.member.id},
        {"owner": B, "outsider": F},
    ),
    Row("rooms.members", "rooms.members", room_id, MEMBER_ONLY),
    Row(
        "rooms.members private",
        "rooms.members",
        lambda w, m: {"roomId": w.private["id"]},
        {"outsider": F, "member": OK},
    ),
    Row(
        "messages.send",
        "messages.send",
        lambda w, m: {**room_id(w, m), "text": "hi"},
        MEMBER_ONLY,
    ),
    Row("messages.list", "messages.list", room_id, MEMBER_ONLY),
    Row(
        "messages.edit",
        "messages.edit",
        lambda w, m: {**message_id(w, m), "text": "edited"},
        {
            "anonymous": A,
            "outsider": F,
            "removed": F,
            "member": F,
            "owner": F,
            "author": OK,
            "missing": N,
        },
    ),
    Row(
        "messages.delete",
        "messages.delete",
        message_id,
        {"anonymous": A, "outsider": F, "member": F, "owner": OK, "author": OK, "missing": N},
    ),
    Row(
        "messages.onMessage",
        "messages.onMessage",
        room_id,
        MEMBER_ONLY,
    ),
    Row(
        "messages.onMessage private",
        "messages.onMessage",
        lambda w, m: {"roomId": w.private["id"]},
        {"outsider": F, "removed": F, "member": OK},
    ),
    Row(
        "typing.set",
        "typing.set",
        lambda w, m: {**room_id(w, m), "isTyping": True},
        MEMBER_ONLY,
    ),
    Row("typing.onTyping", "typing.onTyping", room_id, MEMBER_ONLY),
    Row("presence.onPresence", "presence.onPresence", room_id, MEMBER_ONLY),
]

CASES = [
    pytest.param(row, role, expected, id=f"{row.label}-{role}-{expected}")
    for row in MATRIX
    for role, expected in row.expect.items()
]


def test_matrix_covers_every_procedure_of_the_api() -> None:
    assert {row.path for row in MATRIX} == set(KINDS)


@pytest.mark.parametrize(("row", "role", "expected"), CASES)
async def test_caller_gets_the_expected_outcome(
    api: Api, ws: Callable[..., Any], row: Row, role: str, expected: str
) -> None:
    w = await make_world(api)
    caller = w.caller(role)
    token = caller.token if caller else None
    input = row.input(w, role == "missing")
    if KINDS[row.path] == "subscription":
        client = await ws(token)
        sub = await client.subscribe(row.path, input)
        frame = await sub.next()
        if expected == OK:
            assert frame.get("result", {}).get("type") == "started", frame
        else:
            assert "error" in frame, frame
            assert frame["error"]["data"]["code"] == expected, frame
            await sub.silence(0.2)  # no started, no stopped
        return
    if expected == OK:
        await api.call(row.path, input, token)
        return
    with pytest.raises(TRPCError) as info:
        await api.call(row.path, input, token)
    assert info.value.code == expected, info.value.shape
    if expected == F:
        # a refused caller learns nothing about the room's messages
        assert w.message["text"] not in str(info.value.shape)
