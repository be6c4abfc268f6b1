"""A sample of docs/api.md "Field rules" through the wire: ``BAD_REQUEST`` with the failing
fields in ``error.data.issues[].path``."""

from __future__ import annotations

from typing import Any

import pytest

from .clients import PASSWORD, Api, TRPCError, User, issue_paths, unique_name


def reg(**fields: Any) -> Any:
    """An ``auth.register`` input: a fresh valid user with ``fields`` overriding."""
    return lambda u, r: {"username": unique_name(), "password": PASSWORD, **fields}


def send(**fields: Any) -> Any:
    """A ``messages.send`` input into the member's room with ``fields`` overriding."""
    return lambda u, r: {"roomId": r, "text": "x", **fields}


# (label, path, input built from (user, room id), the issue path expected)
CASES: list[tuple[str, str, Any, list[Any]]] = [
    ("username too short", "auth.register", reg(username="ab"), ["username"]),
    ("username too long", "auth.register", reg(username="a" * 33), ["username"]),
    ("username with a dash", "auth.register", reg(username="bad-name"), ["username"]),
    ("password too short", "auth.register", reg(password="x" * 7), ["password"]),
    ("password too long", "auth.register", reg(password="x" * 257), ["password"]),
    ("displayName empty", "auth.register", reg(displayName=""), ["displayName"]),
    ("displayName too long", "auth.register", reg(displayName="d" * 65), ["displayName"]),
    ("room name empty", "rooms.create", lambda u, r: {"name": ""}, ["name"]),
    ("room name too long", "rooms.create", lambda u, r: {"name": "n" * 101}, ["name"]),
    (
        "more than 100 memberIds",
        "rooms.create",
        lambda u, r: {"name": "big", "memberIds": [u.id] * 101},
        ["memberIds"],
    ),
    ("text blank after trimming", "messages.send", send(text="  \n\t "), ["text"]),
    ("text over 4000", "messages.send", send(text="t" * 4001), ["text"]),
    ("clientMessageId empty", "messages.send", send(clientMessageId=""), ["clientMessageId"]),
    (
        "clientMessageId over 64",
        "messages.send",
        send(clientMessageId="c" * 65),
        ["clientMessageId"],
    ),
    ("roomId as a string", "messages.send", lambda u, r: send()(u, str(r)), ["roomId"]),
    ("roomId missing", "messages.list", lambda u, r: {}, ["roomId"]),
    ("edit to blank text", "messages.edit", lambda u, r: {"messageId": 1, "text": " "}, ["text"]),
    (
        "isTyping not a bool",
        "typing.set",
        lambda u, r: {"roomId": r, "isTyping": "yes"},
        ["isTyping"],
    ),
]


@pytest.fixture
async def member(api: Api) -> tuple[User, int]:
    user = await api.register("valid")
    room = await api.room(user)
    return user, room["id"]


@pytest.mark.parametrize(("path", "build", "issue"), [pytest.param(*c[1:], id=c[0]) for c in CASES])
async def test_invalid_field_is_bad_request_naming_the_field(
    api: Api, member: tuple[User, int], path: str, build: Any, issue: list[Any]
) -> None:
    user, room_id = member
    with pytest.raises(TRPCError) as info:
        await api.call(path, build(user, room_id), user.token)
    assert info.value.code == "BAD_REQUEST", info.value.shape
    assert info.value.http_status == 400
    assert issue in issue_paths(info.value), info.value.shape
    for item in info.value.shape["data"]["issues"]:
        assert isinstance(item["message"], str) and item["message"]


async def test_every_failing_field_is_listed(api: Api) -> None:
    with pytest.raises(TRPCError) as info:
        await api.call("auth.register", {"username": "x", "password": "y"})
    assert sorted(issue_paths(info.value)) == [["password"], ["username"]]


async def test_member_id_of_no_user_is_bad_request_naming_that_entry(
    api: Api, member: tuple[User, int]
) -> None:
    user, _ = member
    with pytest.raises(TRPCError) as info:
        await api.call("rooms.create", {"name": "r", "memberIds": [user.id, 2**40]}, user.token)
    assert info.value.code == "BAD_REQUEST"
    assert issue_paths(info.value) and issue_paths(info.value)[0][0] == "memberIds"


async def test_text_is_trimmed_and_4000_characters_are_accepted(
    api: Api, member: tuple[User, int]
) -> None:
    user, room_id = member
    text = "é" * 4000
    message = await api.send(user, room_id, f"  \n{text}\t ")
    assert message["text"] == text


async def test_username_is_unique_ignoring_case_and_display_name_defaults_to_it(
    api: Api,
) -> None:
    name = unique_name("Case")
    created = await api.call("auth.register", {"username": name, "password": PASSWORD})
    assert created["user"]["displayName"] == name
    with pytest.raises(TRPCError) as info:
        await api.call("auth.register", {"username": name.upper(), "password": PASSWORD})
    assert info.value.code in ("CONFLICT", "BAD_REQUEST"), info.value.shape
    login = await api.call("auth.login", {"username": name, "password": PASSWORD})
    assert login["user"]["id"] == created["user"]["id"]
    with pytest.raises(TRPCError) as wrong:
        await api.call("auth.login", {"username": name, "password": PASSWORD + "!"})
    assert wrong.value.code == "UNAUTHORIZED"


async def test_direct_room_with_oneself_is_bad_request(api: Api, member: tuple[User, int]) -> None:
    user, _ = member
    with pytest.raises(TRPCError) as info:
        await api.call("rooms.openDirect", {"userId": user.id}, user.token)
    assert info.value.code == "BAD_REQUEST"
