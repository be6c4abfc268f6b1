"""The demo router behind :class:`HTTPHandler` options that ``wirechat serve`` does not expose.

``ALT_METHOD_OVERRIDE=1`` (allowMethodOverride), ``ALT_BATCHING=0`` (allowBatching off),
``ALT_MAX_BATCH_SIZE``, ``ALT_SSE_MAX_DURATION_MS``, ``ALT_JSONL_PING_MS``; SSE pings
and the inactivity option are off, so ``connected`` carries ``{}``. HTTP only, on
``PORT``; same ``/health`` and ``/trpc`` mount as the real process.

    PORT=4000 PYTHONPATH=tests/conformance python tests/conformance/alt_server.py
"""

from __future__ import annotations

import os

import uvicorn
from demo_app import make_engine

from wirechat.rpc import HTTPHandler, SSEOptions, TRPCASGIApp
from wirechat.web import build_http_app


def main() -> None:
    env = os.environ
    max_duration = env.get("ALT_SSE_MAX_DURATION_MS")
    handler = HTTPHandler(
        make_engine(),
        allow_method_override=env.get("ALT_METHOD_OVERRIDE") == "1",
        allow_batching=env.get("ALT_BATCHING", "1") == "1",
        max_batch_size=int(env.get("ALT_MAX_BATCH_SIZE", "50")),
        sse=SSEOptions(max_duration_ms=int(max_duration) if max_duration else None),
        jsonl_ping_ms=int(env["ALT_JSONL_PING_MS"]) if env.get("ALT_JSONL_PING_MS") else None,
    )
    app = build_http_app(TRPCASGIApp(handler), cors_origins=[], ready_checks={})
    uvicorn.run(app, host="127.0.0.1", port=int(env["PORT"]), log_level="warning", lifespan="off")


if __name__ == "__main__":
    main()
