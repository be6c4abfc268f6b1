"""The HTTP application on PORT: tRPC under /trpc, plus /health, /ready, /metrics
and the chat page at / (:mod:`wirechat.page`).

The plain endpoints and CORS preflights go through Starlette. tRPC calls, the hot
path, go straight to the tRPC adapter with the CORS headers added on the way out:
Starlette's routing and error middlewares cost about as much per request as a
whole batched call does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["HTTPApp", "ReadyCheck", "build_http_app"]

ReadyCheck = Callable[[], Awaitable[bool]]
"""Returns True when a dependency (database, broker) answers."""


class HTTPApp:
    """Sends ``/trpc`` requests to the tRPC app, everything else to ``rest``.

    CORS for tRPC responses follows ``cors_origins`` exactly as the Starlette
    middleware does for simple requests (allowed origin echoed, credentials
    allowed, ``vary: Origin``); preflight ``OPTIONS`` requests go to ``rest``.
    """

    def __init__(
        self, trpc: ASGIApp, rest: ASGIApp, *, cors_origins: list[str], prefix: str = "/trpc"
    ) -> None:
        self.trpc = trpc
        self.rest = rest
        self.prefix = prefix
        self.any_origin = "*" in cors_origins
        self.origins = frozenset(cors_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        prefix = self.prefix
        if (
            scope["type"] not in ("http", "websocket")
            or not (path == prefix or path.startswith(prefix + "/"))
            or scope.get("method") == "OPTIONS"
        ):
            await self.rest(scope, receive, send)
            return
        scope = {**scope, "root_path": scope.get("root_path", "") + prefix}
        origin = self._allowed_origin(scope)
        if origin is None or scope["type"] != "http":
            await self.trpc(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"access-control-allow-origin", origin))
                headers.append((b"access-control-allow-credentials", b"true"))
                headers.append((b"vary", b"Origin"))
                message = {**message, "headers": headers}
            await send(message)

        await self.trpc(scope, receive, send_with_cors)

    def _allowed_origin(self, scope: Scope) -> bytes | None:
        for name, value in scope["headers"]:
            if name == b"origin":
                if self.any_origin or value.decode("latin-1") in self.origins:
                    return bytes(value)
                return None
        return None


def build_http_app(
    trpc: ASGIApp,
    *,
    cors_origins: list[str],
    ready_checks: dict[str, ReadyCheck],
    registry: CollectorRegistry = REGISTRY,
    page_routes: list[BaseRoute] | None = None,
) -> HTTPApp:
    async def health(request: Request) -> Response:
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return JSONResponse({"status": "ok", "timestamp": now})

    async def ready(request: Request) -> Response:
        checks: dict[str, str] = {}
        for name, check in ready_checks.items():
            try:
                ok = await check()
            except Exception:
                ok = False
            checks[name] = "ok" if ok else "unavailable"
        healthy = all(value == "ok" for value in checks.values())
        return JSONResponse(
            {"status": "ok" if healthy else "unavailable", "checks": checks},
            status_code=200 if healthy else 503,
        )

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    rest = Starlette(
        routes=[
            Route("/health", health),
            Route("/ready", ready),
            Route("/metrics", metrics),
            Mount("/trpc", app=trpc),
            *(page_routes or []),
        ],
        middleware=[
            Middleware(
                CORSMiddleware,
                allow_origins=cors_origins,
                allow_credentials=True,
                allow_methods=["GET", "POST", "OPTIONS", "HEAD"],
                allow_headers=["content-type", "authorization", "trpc-accept", "last-event-id"],
                max_age=600,
            )
        ],
    )
    return HTTPApp(trpc, rest, cors_origins=cors_origins)
