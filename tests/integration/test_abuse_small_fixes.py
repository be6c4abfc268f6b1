"""Issue 11, point 5: NUL characters, private files, short secrets, clientMessageId per
room, and direct conversations where neither side owns the other."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from support.net import free_port

from .clients import Api, TRPCError
from .conftest import BASE_ENV, WIRECHAT, Server


@pytest.mark.parametrize(
    ("path", "input_of"),
    [
        ("messages.send", lambda room: {"roomId": room, "text": "a\x00b"}),
        ("rooms.create", lambda room: {"name": "nul\x00room"}),
        ("messages.send", lambda room: {"roomId": room, "text": "x", "clientMessageId": "\x00"}),
    ],
)
async def test_nul_character_in_text_or_names_is_bad_request(
    api: Api, server: Server, path: str, input_of: Callable[[int], dict[str, object]]
) -> None:
    alice = await api.register("nul")
    room = await api.room(alice)
    with pytest.raises(TRPCError) as info:
        await api.call(path, input_of(room["id"]), alice.token)
    assert info.value.code == "BAD_REQUEST", info.value.shape
    assert "stack" not in info.value.shape["data"]
    with pytest.raises(TRPCError) as info:
        await api.call(
            "auth.register",
            {"username": "nul_user", "password": "long enough", "displayName": "a\x00"},
        )
    assert info.value.code == "BAD_REQUEST"
    server.assert_alive()


async def test_client_message_id_answers_for_its_own_room_only(api: Api) -> None:
    alice = await api.register("cmid")
    first, second = await api.room(alice), await api.room(alice)
    sent = await api.send(alice, first["id"], "in the first room", clientMessageId="same-id")
    # A retry in the same room is the stored message...
    assert await api.send(alice, first["id"], "again", clientMessageId="same-id") == sent
    # ...the same id in another room is not, and reveals nothing of the first.
    with pytest.raises(TRPCError) as info:
        await api.send(alice, second["id"], "elsewhere", clientMessageId="same-id")
    assert info.value.code == "BAD_REQUEST"
    assert [issue["path"] for issue in info.value.data["issues"]] == [["clientMessageId"]]
    assert "first room" not in str(info.value.shape)
    page = await api.call("messages.list", {"roomId": second["id"]}, alice.token)
    assert page["items"] == []


async def test_in_a_direct_room_neither_side_deletes_the_other_s_messages(api: Api) -> None:
    alice, bob = await api.register("dm"), await api.register("dm")
    room = await api.call("rooms.openDirect", {"userId": bob.id}, alice.token)
    assert room["ownerId"] == alice.id  # opened first, yet owns nothing of bob's
    from_bob = await api.send(bob, room["id"], "mine")
    from_alice = await api.send(alice, room["id"], "mine too")
    for actor, message in ((alice, from_bob), (bob, from_alice)):
        with pytest.raises(TRPCError) as info:
            await api.call("messages.delete", {"messageId": message["id"]}, actor.token)
        assert info.value.code == "FORBIDDEN"
    deleted = await api.call("messages.delete", {"messageId": from_bob["id"]}, bob.token)
    assert deleted["deletedAt"] is not None


async def test_open_direct_does_not_pull_back_a_user_who_left(api: Api) -> None:
    alice, bob = await api.register("dm"), await api.register("dm")
    room = await api.call("rooms.openDirect", {"userId": bob.id}, alice.token)
    await api.call("rooms.leave", {"roomId": room["id"]}, bob.token)

    again = await api.call("rooms.openDirect", {"userId": bob.id}, alice.token)
    assert again["id"] == room["id"]
    assert again["memberCount"] == 1
    assert room["id"] not in {r["id"] for r in await api.call("rooms.list", None, bob.token)}
    with pytest.raises(TRPCError) as info:
        await api.call("messages.list", {"roomId": room["id"]}, bob.token)
    assert info.value.code == "FORBIDDEN"

    # Bob comes back only by opening it himself.
    back = await api.call("rooms.openDirect", {"userId": alice.id}, bob.token)
    assert back["id"] == room["id"]
    assert back["memberCount"] == 2


async def test_sqlite_file_and_data_directory_are_private(
    db: tuple[str, str | None],
    start_server: Callable[..., Server],
    http: httpx.AsyncClient,
    tmp_path: Path,
) -> None:
    if db[0] != "sqlite":
        pytest.skip("the SQLite file")
    os.umask(0o022)  # the usual umask, which would leave them world-readable
    data_dir = tmp_path / "data"
    srv = start_server(DATA_DIR=str(data_dir))
    api = Api(srv.trpc_url, http)
    await api.send(alice := await api.register("perm"), (await api.room(alice))["id"], "x")

    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    files = sorted(p.name for p in data_dir.iterdir())
    assert "wirechat.db" in files
    for name in files:
        assert stat.S_IMODE((data_dir / name).stat().st_mode) & 0o077 == 0, name


def test_a_jwt_secret_shorter_than_32_bytes_is_refused_at_start(tmp_path: Path) -> None:
    env = {
        **os.environ,
        **BASE_ENV,
        "JWT_SECRET": "x" * 31,
        "DATA_DIR": str(tmp_path),
        "PORT": str(free_port()),
        "WS_PORT": str(free_port()),
    }
    done = subprocess.run(
        [str(WIRECHAT), "serve"], cwd=tmp_path, env=env, capture_output=True, timeout=60
    )
    assert done.returncode == 1
    lines = done.stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert "JWT_SECRET" in lines[0] and "32 bytes" in lines[0]
    assert "x" * 31 not in lines[0]  # the secret itself is never printed
