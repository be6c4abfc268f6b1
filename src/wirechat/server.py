"""Assembly and lifecycle of the process: HTTP on PORT, WebSocket on WS_PORT.

:func:`serve` binds both ports (a taken port is a :class:`StartupError` naming
the setting), builds the application, serves until SIGTERM or SIGINT, then
shuts down gracefully: every WebSocket client is told to reconnect, calls in
flight finish, subscriptions end, the database and broker are closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import logging
import resource
import signal
import socket
from collections.abc import Callable, Generator
from pathlib import Path

import uvicorn

from .admission import ConnectionCounter, http_protocol
from .allocator import describe_allocator
from .application import AppFactory, Application, StartupError
from .config import Settings
from .page import ChatPage
from .proxies import TrustedProxies
from .rpc import HTTPHandler, Limits, RequestInfo, SSEOptions, TRPCASGIApp, WSServer
from .web import build_http_app

__all__ = ["AppFactory", "Application", "StartupError", "load_factory", "serve"]

logger = logging.getLogger("wirechat")

# The page built in the source checkout (src/wirechat/server.py -> web/dist).
DEFAULT_WEB_DIR = Path(__file__).resolve().parents[2] / "web" / "dist"


def chat_factory() -> AppFactory:
    """The chat application's factory, served when no other is given.

    Imported on demand: the chat (SQLAlchemy, Argon2, its models) more than doubles the
    start-up time of a process serving some other application."""
    from .chat.app import build_application

    return build_application


def load_factory(spec: str) -> AppFactory:
    """Import ``module:attribute``, e.g. ``demo_app:build`` (``wirechat serve --app``)."""
    module_name, _, attr = spec.partition(":")
    factory: AppFactory = getattr(importlib.import_module(module_name), attr)
    return factory


def bind(host: str, port: int, setting: str) -> socket.socket:
    """Bind a listening TCP socket now, so a taken port fails before anything starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise StartupError(
            f"cannot listen on {host}:{port} ({exc.strerror}); set {setting} to a free port"
        ) from exc
    sock.listen(2048)
    sock.setblocking(False)
    return sock


class _UvicornServer(uvicorn.Server):
    """uvicorn without its own signal handling: :func:`serve` owns shutdown."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


_FILES_BESIDES_SOCKETS = 256
"""Database, Redis, log and listening files, and the HTTP port's connections at rest."""


def raise_open_files_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit (each connection is a file);
    returns the limit now in force. Distributions start processes at 1,024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard
    if hard == resource.RLIM_INFINITY:
        wanted = 1 << 20  # the kernel's usual nr_open; "unlimited" is refused
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError) as exc:
            logger.warning("cannot raise the open files limit from %s to %s: %s", soft, wanted, exc)
            wanted = soft
    else:
        wanted = soft
    logger.info("open files limit: %s (was %s, hard limit %s)", wanted, soft, hard)
    return int(wanted)


def _ws_admission(
    counter: ConnectionCounter,
) -> Callable[[RequestInfo], Callable[[], None] | None]:
    """The WebSocket port's caps: the handshake's headers are known, so a trusted
    proxy's X-Forwarded-For names the client."""

    def admit(info: RequestInfo) -> Callable[[], None] | None:
        ip = counter.proxies.client_ip(info.peer, info.headers)
        if not counter.admit(ip):
            return None
        return lambda: counter.release(ip)

    return admit


def display_host(host: str) -> str:
    return "localhost" if host in ("0.0.0.0", "::", "") else host


async def serve(settings: Settings, factory: AppFactory | None = None) -> int:
    """Run until a signal arrives; returns the exit status."""
    http_sock = bind(settings.host, settings.port, "PORT")
    ws_sock: socket.socket | None = None
    if settings.ws_enabled:
        ws_sock = bind(settings.host, settings.ws_port, "WS_PORT")
        ws_sock.close()  # picows binds itself; this only proved the port is free
    open_files = raise_open_files_limit()
    # Whether memory returns after a wave of disconnects depends on it (allocator.py).
    logger.info("allocator: %s", describe_allocator())
    if settings.ws_enabled and open_files < settings.max_connections + _FILES_BESIDES_SOCKETS:
        # Past the file limit a new socket fails in accept() (and is retried, silently);
        # under MAX_CONNECTIONS it is refused with close code 1013, which clients handle.
        logger.warning(
            "open files limit %s is below MAX_CONNECTIONS=%s (+%s for everything else): "
            "lower MAX_CONNECTIONS or raise the hard limit (LimitNOFILE, ulimit -Hn)",
            open_files,
            settings.max_connections,
            _FILES_BESIDES_SOCKETS,
        )
    application = await (factory or chat_factory())(settings)
    # Everything built so far lives as long as the process: move it out of the
    # collector's way so later collections (pauses in the event loop) scan less.
    gc.collect()
    gc.freeze()

    limits = Limits(
        max_message_bytes=settings.max_ws_message_bytes,
        max_batch_size=settings.max_batch_size,
        max_subscriptions=settings.max_subscriptions_per_connection,
        max_buffered_bytes=settings.max_buffered_bytes,
        max_stream_setups=settings.max_stream_setups_per_connection,
        max_calls_in_flight=settings.max_calls_per_connection,
        ping_interval=settings.ws_ping_interval_seconds,
        pong_timeout=settings.ws_pong_timeout_seconds,
    )
    handler = HTTPHandler(
        application.engine,
        limits=limits,
        sse=SSEOptions(
            ping_ms=settings.sse_ping_ms,
            reconnect_after_inactivity_ms=settings.sse_reconnect_after_inactivity_ms,
        ),
    )
    trpc = TRPCASGIApp(handler, max_body_bytes=settings.max_body_bytes, ws_limits=limits)
    ws_server: WSServer | None = None
    page = ChatPage(
        settings.web_dir or DEFAULT_WEB_DIR,
        ws_port=lambda: ws_server.port if ws_server is not None else None,
    )
    http_app = build_http_app(
        trpc,
        cors_origins=settings.cors_origin_list,
        ready_checks=application.ready_checks,
        registry=application.registry,
        page_routes=page.routes(),
    )
    proxies = TrustedProxies(settings.forwarded_allow_ips)
    http_counter = ConnectionCounter(
        settings.max_connections, settings.max_connections_per_ip, proxies
    )
    config = uvicorn.Config(
        http_app,
        http=http_protocol(http_counter, settings.header_timeout_seconds),
        forwarded_allow_ips=settings.forwarded_allow_ips,
        loop="none",
        lifespan="off",
        log_config=None,
        access_log=False,
        server_header=False,
        ws_per_message_deflate=False,
        ws_max_size=settings.max_ws_message_bytes,
        timeout_graceful_shutdown=max(int(settings.shutdown_grace_seconds), 1),
    )
    http_server = _UvicornServer(config)

    if settings.ws_enabled:
        ws_server = WSServer(
            application.engine,
            host=settings.host,
            port=settings.ws_port,
            limits=limits,
            on_change=application.on_connections_change,
            tables=application.tables,
            handshake_timeout=settings.header_timeout_seconds,
            admit=_ws_admission(
                ConnectionCounter(
                    settings.max_connections, settings.max_connections_per_ip, proxies
                )
            ),
        )
        try:
            await ws_server.start()
        except OSError as exc:
            await application.aclose()
            raise StartupError(
                f"cannot listen on {settings.host}:{settings.ws_port} ({exc.strerror}); "
                "set WS_PORT to a free port"
            ) from exc

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    http_task = asyncio.ensure_future(http_server.serve(sockets=[http_sock]))
    host = display_host(settings.host)
    port = http_sock.getsockname()[1]
    logger.info("HTTP server listening on http://%s:%s (tRPC at /trpc)", host, port)
    if ws_server is not None:
        logger.info("WebSocket server listening on ws://%s:%s", host, ws_server.port)
    else:
        logger.info("WebSocket server disabled (WS_ENABLED=false)")
    if page.missing is None:
        logger.info("Chat page at http://%s:%s/", host, port)
    else:
        logger.warning("No chat page at /: %s; the API works without it", page.missing)

    stop_task = asyncio.ensure_future(stop.wait())
    await asyncio.wait({http_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
    stop_task.cancel()
    if http_task.done():
        # The HTTP server stopped by itself: say why, since nobody asked it to.
        error = None if http_task.cancelled() else http_task.exception()
        logger.error("HTTP server stopped unexpectedly: %r; shutting down", error)
        exit_status = 1
    else:
        logger.info("Shutting down (signal received)")
        exit_status = 0
    grace = settings.shutdown_grace_seconds
    # Both servers wind down together so the whole shutdown fits in about `grace`:
    # streams end at once (clients resume elsewhere), calls in flight get `grace`.
    http_server.should_exit = True
    closing = [trpc.aclose(grace)]
    if ws_server is not None:
        closing.append(ws_server.shutdown(grace))
    await asyncio.gather(*closing)
    with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
        await asyncio.wait_for(http_task, grace + 1)
    await application.aclose()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.remove_signal_handler(sig)
    logger.info("Stopped")
    return exit_status
