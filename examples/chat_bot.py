"""A bot that answers in a wirechat room, on wirechat.client.

    python examples/chat_bot.py --room 1 --username echobot --password 'a long secret'

It logs in (registering the account the first time), joins the room, and answers every
message that starts with ``!``: ``!ping`` gets ``pong``, ``!echo <text>`` gets the
text back, ``!time`` the server-independent UTC time. It never answers itself. The
subscription survives restarts and dropped connections: the client reconnects and
resumes after the last event it saw, so no message is missed or answered twice, and
each answer carries a ``clientMessageId`` derived from the question, so even a resend
after a lost reply cannot post it twice.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import logging
import signal
from typing import Any

from wirechat.client import Client, TRPCClientError

log = logging.getLogger("chat_bot")


def answer(text: str) -> str | None:
    """The reply to one message, or None to stay quiet."""
    command, _, rest = text.strip().partition(" ")
    if command == "!ping":
        return "pong"
    if command == "!echo" and rest:
        return rest
    if command == "!time":
        return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return None


async def login(url: str, username: str, password: str) -> dict[str, Any]:
    """``{token, user}``; registers the account if it does not exist yet."""
    async with Client(url) as anonymous:
        try:
            result: dict[str, Any] = await anonymous.mutate(
                "auth.login", {"username": username, "password": password}
            )
        except TRPCClientError as error:
            if error.code != "UNAUTHORIZED":
                raise
            result = await anonymous.mutate(
                "auth.register", {"username": username, "password": password}
            )
        return result


async def run(url: str, ws_url: str, room_id: int, username: str, password: str) -> None:
    session = await login(url, username, password)
    token, me = session["token"], session["user"]["id"]
    async with Client(
        url,
        ws_url=ws_url,
        headers={"authorization": f"Bearer {token}"},
        connection_params={"token": token},
    ) as client:
        try:
            await client.mutate("rooms.join", {"roomId": room_id})
        except TRPCClientError as error:
            if error.code != "FORBIDDEN":  # a private room the bot is already in is fine
                raise
        log.info("answering in room %s as %s", room_id, username)
        async with client.subscribe("messages.onMessage", {"roomId": room_id}) as events:
            async for event in events:
                if event.data["type"] != "created":
                    continue
                message = event.data["message"]
                if message["author"]["id"] == me:
                    continue
                reply = answer(message["text"])
                if reply is None:
                    continue
                await client.mutate(
                    "messages.send",
                    {
                        "roomId": room_id,
                        "text": reply,
                        "clientMessageId": f"re-{message['id']}",
                    },
                )
                log.info("answered message %s", message["id"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:3000/trpc")
    parser.add_argument("--ws-url", default="ws://127.0.0.1:3001")
    parser.add_argument("--room", type=int, required=True)
    parser.add_argument("--username", default="echobot")
    parser.add_argument("--password", required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    async def guarded() -> None:
        task = asyncio.ensure_future(
            run(args.url, args.ws_url, args.room, args.username, args.password)
        )
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            log.info("stopped")

    asyncio.run(guarded())


if __name__ == "__main__":
    main()
