"""Assembly of the chat application from the settings (``wirechat serve``'s default app).

Every resource is opened in order and registered on one exit stack, which closes
them in the reverse order: streams and channels first, then what they use (presence,
Redis, the broker), then the store, the engine and, last, the SQLite checkpointer, so
its final checkpoint runs with no connection left open. A failure half-way closes
what was already opened.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

from sqlalchemy import text

from wirechat.application import Application, StartupError
from wirechat.broker import Broker, create_broker
from wirechat.chat.auth import PasswordHasher, TokenService, load_or_create_secret
from wirechat.chat.context import ContextFactory
from wirechat.chat.deps import Deps
from wirechat.chat.guard import SessionGuard
from wirechat.chat.hub import RoomHub
from wirechat.chat.metrics import ChatMetrics
from wirechat.chat.presence import MemoryPresence, PresenceStore
from wirechat.chat.routers import app_router
from wirechat.chat.services import sessions as signins
from wirechat.chat.services.ratelimit import MemoryRateLimiter, RateLimiter, RateLimits
from wirechat.chat.services.users import UserCache
from wirechat.chat.store import open_store
from wirechat.config import Rate, Settings
from wirechat.db.migrate import upgrade
from wirechat.db.session import create_engine, default_sqlite_url, session_factory
from wirechat.db.sqlite import start_checkpointer
from wirechat.proxies import TrustedProxies
from wirechat.rpc import Engine, SuperJSON

__all__ = ["build_application"]

logger = logging.getLogger("wirechat")


def _describe(url: str) -> str:
    """The database URL without credentials, for messages."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2]}"


async def build_application(settings: Settings) -> Application:
    """Connect and migrate the database, pick the broker, wire the procedures.

    Raises StartupError (naming the setting) when the database is unreachable or the
    Redis URL is invalid.
    """
    # Private to the server's user: it holds the database and the generated secret.
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    url = settings.database_url or default_sqlite_url(settings.data_dir)
    try:
        # Safe with several processes starting at once (the migration takes a lock).
        await upgrade(url)
    except Exception as exc:
        raise StartupError(
            f"cannot use the database at {_describe(url)} ({type(exc).__name__}: {exc}); "
            "check DATABASE_URL"
        ) from exc
    secret = settings.jwt_secret
    if not secret:
        secret, created = load_or_create_secret(settings.data_dir)
        logger.warning(
            "JWT_SECRET is not set: %s a generated secret in %s (set JWT_SECRET in production)",
            "created" if created else "using",
            settings.data_dir / "jwt_secret",
        )
    # Everything shared through Redis is namespaced by the database: two deployments
    # on one Redis server (whose pub/sub ignores the db number) never see each other.
    namespace = settings.redis_namespace or hashlib.sha256(_describe(url).encode()).hexdigest()[:12]

    async with AsyncExitStack() as stack:
        db = create_engine(url)
        checkpointer = start_checkpointer(db.dialect, db.url.database)
        if checkpointer is not None:
            stack.callback(checkpointer.stop)
        stack.push_async_callback(db.dispose)
        sessions = session_factory(db)
        store = open_store(db, history_bytes=settings.history_cache_bytes)
        stack.push_async_callback(store.aclose)
        broker = _broker(settings)
        stack.push_async_callback(broker.aclose)

        metrics = ChatMetrics()
        delivered = metrics.delivered.labels("messages.onMessage")
        hub = RoomHub(broker, store, on_dispatch=delivered.inc, namespace=f"{namespace}:")
        guard = SessionGuard(
            broker,
            lambda session_id: signins.is_live(sessions, session_id),
            lambda session_ids: signins.ended_among(sessions, session_ids),
            grace=settings.token_grace_seconds,
            namespace=f"{namespace}:",
        )
        await guard.start()
        stack.push_async_callback(guard.aclose)
        presence: PresenceStore
        make_limiter: Callable[[Rate], RateLimiter]
        if settings.redis_url:
            # Scale-out: presence and rate limits are shared by every process.
            from redis.asyncio import Redis

            from wirechat.chat.shared_state import RedisPresence, RedisRateLimiter

            redis_client: Any = Redis.from_url(
                settings.redis_url, socket_timeout=1.0, socket_connect_timeout=1.0
            )
            stack.push_async_callback(redis_client.aclose)
            shared = RedisPresence(
                redis_client,
                on_change=hub.publish_presence,
                namespace=namespace,
                watched_rooms=hub.rooms,
            )
            shared.start()
            presence = shared

            def make_limiter(rate: Rate) -> RateLimiter:
                return RedisRateLimiter(redis_client, rate.limit, rate.window, namespace=namespace)
        else:
            presence = MemoryPresence()

            def make_limiter(rate: Rate) -> RateLimiter:
                return MemoryRateLimiter(rate.limit, rate.window)

        limiter = make_limiter(
            Rate(settings.rate_limit_messages, settings.rate_limit_window_seconds)
        )
        limits = RateLimits(
            edits=make_limiter(settings.rate_limit_edits),
            rooms=make_limiter(settings.rate_limit_rooms),
            typing=make_limiter(settings.rate_limit_typing),
            register=make_limiter(settings.rate_limit_register),
            login=make_limiter(settings.rate_limit_login),
            failed_logins=make_limiter(settings.rate_limit_failed_logins),
            refresh=make_limiter(settings.rate_limit_refresh),
            change_password=make_limiter(settings.rate_limit_change_password),
        )
        stack.push_async_callback(presence.aclose)
        stack.push_async_callback(hub.aclose)

        deps = Deps(
            sessions=sessions,
            store=store,
            hasher=PasswordHasher(
                time_cost=settings.argon2_time_cost,
                memory_cost=settings.argon2_memory_cost,
                parallelism=settings.argon2_parallelism,
                max_concurrent=settings.max_concurrent_hashes,
                max_queued=settings.max_queued_hashes,
            ),
            tokens=TokenService(secret, settings.jwt_expires_in),
            hub=hub,
            presence=presence,
            limiter=limiter,
            metrics=metrics,
            users=UserCache(sessions),
            guard=guard,
            refresh_expires_in=settings.refresh_expires_in,
            limits=limits,
            proxies=TrustedProxies(settings.forwarded_allow_ips),
            replay_slots=asyncio.Semaphore(settings.max_concurrent_replays),
        )
        engine = Engine(
            app_router,
            ContextFactory(deps),
            is_dev=settings.dev_mode,
            observer=metrics,
            transformer=SuperJSON() if settings.transformer == "superjson" else None,
        )
        # What must return to its level when connections go (bench/ churn workload).
        metrics.watch("room_channels", lambda: len(hub.channels))
        metrics.watch("room_listeners", hub.listener_count)
        metrics.watch("presence_entries", presence.local_entries)
        metrics.watch("asyncio_tasks", _task_count)

        async def database_ready() -> bool:
            async with db.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True

        return Application(
            engine=engine,
            ready_checks={"database": database_ready, "broker": broker.ping},
            # Built: the resources now live until the server closes the application.
            aclose=stack.pop_all().aclose,
            registry=metrics.registry,
            on_connections_change=metrics.connections_changed,
            tables=lambda: (*hub.tables(), *guard.tables()),
        )
    raise AssertionError("unreachable")


def _task_count() -> int:
    try:
        return len(asyncio.all_tasks())
    except RuntimeError:  # scraped outside the event loop's thread
        return 0


def _broker(settings: Settings) -> Broker:
    try:
        return create_broker(settings.redis_url)
    except ValueError as exc:
        raise StartupError(str(exc)) from exc
