"""Attacks run from their own process, so the test's measurements share no event loop
(or GIL) with the attacker: ``python -m support.attack login-flood URL SECONDS``.

Prints one JSON line of counts when done.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import time
from collections import Counter

import httpx
import orjson

__all__ = ["login_flood", "main"]


async def login_flood(
    base_url: str, seconds: float, batches: int = 4, size: int = 50
) -> Counter[str]:
    """``batches`` HTTP batches of ``size`` logins of unknown users in parallel, each sent
    again as soon as it is answered, for ``seconds``; the error codes seen."""
    codes: Counter[str] = Counter()
    path = ",".join(["auth.login"] * size)
    deadline = time.monotonic() + seconds

    async def one(client: httpx.AsyncClient) -> None:
        # Built once: the attacker's own CPU would otherwise compete with the server's.
        body = orjson.dumps(
            {
                str(i): {"username": f"ghost_{secrets.token_hex(6)}", "password": "guess-guess"}
                for i in range(size)
            }
        )
        while time.monotonic() < deadline:
            response = await client.post(
                f"{base_url}/trpc/{path}?batch=1",
                content=body,
                headers={"content-type": "application/json"},
            )
            for item in orjson.loads(response.content):
                codes[item["error"]["data"]["code"] if "error" in item else "OK"] += 1

    async with httpx.AsyncClient(timeout=120) as client:
        await asyncio.gather(*(one(client) for _ in range(batches)))
    return codes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m support.attack")
    parser.add_argument("attack", choices=["login-flood"])
    parser.add_argument("base_url")
    parser.add_argument("seconds", type=float)
    args = parser.parse_args(argv)
    codes = asyncio.run(login_flood(args.base_url, args.seconds))
    sys.stdout.write(orjson.dumps(dict(codes)).decode() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
