"""The bot of examples/chat_bot.py answers in a room of a real wirechat process."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from wirechat.client import Client

from .conftest import PASSWORD, User, make_room
from .servers import Server

BOT = Path(__file__).resolve().parents[2] / "examples" / "chat_bot.py"


async def test_bot_answers_in_the_room(server: Server, user: User) -> None:
    if server.kind != "wirechat":
        pytest.skip("the bot logs in with auth.login, which the baseline does not have")
    room = await make_room(server.url, user)
    bot = await asyncio.create_subprocess_exec(
        *[
            sys.executable,
            str(BOT),
            "--url",
            server.url,
            "--ws-url",
            server.ws_url,
            "--room",
            str(room),
            "--username",
            f"bot_{room}",
            "--password",
            PASSWORD,
        ],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with (
            Client(
                server.url,
                ws_url=server.ws_url,
                headers=user.headers,
                connection_params={"token": user.token},
            ) as client,
            client.subscribe("messages.onMessage", {"roomId": room}) as sub,
        ):
            await asyncio.wait_for(sub.started(), 30)
            # The bot may still be logging in: ask until it answers.
            replies: list[str] = []

            async def read() -> None:
                async for event in sub:
                    message = event.data["message"]
                    if message["author"]["id"] != user.id:
                        replies.append(message["text"])
                        if "echo me" in replies:
                            return

            reader = asyncio.ensure_future(read())
            for _ in range(150):
                await client.mutate("messages.send", {"roomId": room, "text": "!ping"})
                await asyncio.sleep(0.2)
                if "pong" in replies:
                    break
            await client.mutate("messages.send", {"roomId": room, "text": "hello"})
            await client.mutate("messages.send", {"roomId": room, "text": "!echo echo me"})
            await asyncio.wait_for(reader, 30)
        assert "pong" in replies
        assert replies[-1] == "echo me"
        assert set(replies) == {"pong", "echo me"}  # nothing for "hello", nothing for itself
    finally:
        bot.terminate()
        output = (await asyncio.wait_for(bot.communicate(), 15))[0].decode(errors="replace")
    assert bot.returncode == 0, output
