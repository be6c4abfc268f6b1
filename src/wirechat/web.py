"""The HTTP application on PORT: tRPC under /trpc, plus /health, /ready, /metrics."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

__all__ = ["ReadyCheck", "build_http_app"]

ReadyCheck = Callable[[], Awaitable[bool]]
"""Returns True when a dependency (database, broker) answers."""


def build_http_app(
    trpc: ASGIApp,
    *,
    cors_origins: list[str],
    ready_checks: dict[str, ReadyCheck],
    registry: CollectorRegistry = REGISTRY,
) -> Starlette:
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

    return Starlette(
        routes=[
            Route("/health", health),
            Route("/ready", ready),
            Route("/metrics", metrics),
            Mount("/trpc", app=trpc),
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
