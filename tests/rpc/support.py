"""Helpers shared by the rpc unit tests: a small app, and ways to call it without a socket."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from wirechat.rpc.context import RequestInfo
from wirechat.rpc.engine import Engine
from wirechat.rpc.http import HTTPHandler, HTTPRequest, HTTPResponse
from wirechat.rpc.router import Router

__all__ = [
    "Ctx",
    "body_bytes",
    "body_json",
    "first_chunks",
    "header",
    "make_engine",
    "make_handler",
    "request",
]


@dataclass
class Ctx:
    """The context of the test apps: the request facts and a user name, if any."""

    info: RequestInfo
    user: str | None = None
    seen: list[Any] = field(default_factory=list)


async def default_context(info: RequestInfo) -> Ctx:
    user = info.headers.get("authorization")
    if info.connection_params:
        user = info.connection_params.get("token") or user
    return Ctx(info, user)


def make_engine(
    router: Router,
    create_context: Callable[[RequestInfo], Awaitable[Any]] | None = None,
    **options: Any,
) -> Engine[Any]:
    return Engine(router, create_context or default_context, **options)


def make_handler(
    router: Router,
    create_context: Callable[[RequestInfo], Awaitable[Any]] | None = None,
    *,
    engine_options: dict[str, Any] | None = None,
    **options: Any,
) -> HTTPHandler:
    return HTTPHandler(make_engine(router, create_context, **(engine_options or {})), **options)


async def request(
    handler: HTTPHandler,
    method: str,
    path: str,
    query: str = "",
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> HTTPResponse:
    """Send one request; a non-GET JSON request gets ``content-type: application/json``."""
    if headers is None:
        headers = {} if method in ("GET", "HEAD") else {"content-type": "application/json"}
    return await handler.handle(HTTPRequest(method, path, query, headers, body))


async def body_bytes(response: HTTPResponse) -> bytes:
    """The whole body, iterating a streamed one to its end."""
    if isinstance(response.body, bytes):
        return response.body
    chunks = [chunk async for chunk in response.body]
    return b"".join(chunks)


async def body_json(response: HTTPResponse) -> Any:
    return orjson.loads(await body_bytes(response))


def header(response: HTTPResponse, name: str) -> str | None:
    values = [v for k, v in response.headers if k.lower() == name]
    assert len(values) <= 1, f"header {name} sent {len(values)} times"
    return values[0] if values else None


async def first_chunks(body: AsyncIterator[bytes], count: int) -> list[bytes]:
    """The first ``count`` chunks of a streamed body (the iterator stays open)."""
    return [await anext(body) for _ in range(count)]
