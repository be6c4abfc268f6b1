"""Settings, read once from the environment and ``.env`` (pydantic-settings).

Only :mod:`wirechat.server` and :mod:`wirechat.cli` read them; everything else
receives plain values as arguments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal, TypeAlias

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = [
    "MIN_JWT_SECRET_BYTES",
    "Rate",
    "RateSetting",
    "Settings",
    "parse_duration",
    "parse_rate",
]

MIN_JWT_SECRET_BYTES = 32
"""HS256 keys shorter than the hash output (RFC 7518 §3.2) are refused."""

_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d|w)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}


def parse_duration(value: str | int | float | timedelta) -> timedelta:
    """``7d``, ``12h``, ``30m``, ``45s``, ``500ms`` or plain seconds, as jsonwebtoken's
    ``expiresIn`` accepts them."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)):
        return timedelta(seconds=value)
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"not a duration: {value!r} (use e.g. 7d, 12h, 30m, 3600)")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


@dataclass(frozen=True, slots=True)
class Rate:
    """At most ``limit`` calls per ``window`` seconds."""

    limit: int
    window: float

    def __str__(self) -> str:
        return f"{self.limit}/{self.window:g}s"


def parse_rate(value: str | Rate) -> Rate:
    """``30/10s``, ``5/1m``, ``100/1h``: a count, a slash and a duration."""
    if isinstance(value, Rate):
        return value
    count, slash, window = value.partition("/")
    if not slash or not count.strip().isdigit() or int(count) < 1:
        raise ValueError(f"not a rate: {value!r} (use e.g. 30/10s, 5/1m)")
    seconds = parse_duration(window).total_seconds()
    if seconds <= 0:
        raise ValueError(f"not a rate: {value!r} (the window must be longer than 0)")
    return Rate(int(count), seconds)


RateSetting: TypeAlias = Annotated[Rate, NoDecode]
"""A :class:`Rate` read from its text form (not JSON)."""


class Settings(BaseSettings):
    """Every knob of the process; each field is the upper-case environment variable."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    host: str = "0.0.0.0"
    port: int = Field(3000, ge=0, le=65535)
    ws_port: int = Field(3001, ge=0, le=65535)
    ws_enabled: bool = True
    data_dir: Path = Path("data")
    database_url: str | None = None
    redis_url: str | None = None
    redis_namespace: str | None = None
    """Prefix of this deployment's Redis keys and channels (default: from DATABASE_URL)."""
    jwt_secret: str | None = None
    jwt_expires_in: timedelta = timedelta(days=7)
    refresh_expires_in: timedelta = timedelta(days=30)
    token_grace_seconds: float = Field(60.0, ge=0)
    """How long an open connection keeps working after its token expired unrefreshed."""
    cors_origins: str = "http://localhost:5173"
    log_level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    log_format: Literal["text", "json"] = "text"
    web_dir: Path | None = None
    """The built chat page served at / (default: ``web/dist`` of the source checkout)."""
    dev_mode: bool = False
    """Development mode: stack traces in error responses. Never in production."""
    transformer: Literal["none", "superjson"] = "none"
    """The clients' data transformer: ``superjson`` for clients created with
    ``transformer: superjson`` (every call, result, event and error is wrapped)."""

    # Limits (docs/api.md "Limits").
    max_body_bytes: int = Field(1024 * 1024, gt=0)
    max_ws_message_bytes: int = Field(1024 * 1024, gt=0)
    max_batch_size: int = Field(50, gt=0)
    max_subscriptions_per_connection: int = Field(100, gt=0)
    max_buffered_bytes: int = Field(8 * 1024 * 1024, gt=0)
    """Output produced for one connection (WebSocket, SSE or JSONL) and not yet read."""
    max_stream_setups_per_connection: int = Field(10, gt=0)
    """Subscriptions being set up at once on one connection; more wait (ten times as many
    waiting: TOO_MANY_REQUESTS)."""
    rate_limit_messages: int = Field(30, gt=0)
    rate_limit_window_seconds: float = Field(10.0, gt=0)
    # Abuse limits (docs/reliability.md): "<count>/<window>", shared through Redis when
    # REDIS_URL is set.
    rate_limit_edits: RateSetting = Rate(30, 10)
    """messages.edit and messages.delete per user."""
    rate_limit_rooms: RateSetting = Rate(20, 60)
    """rooms.create, openDirect, join, leave, addMember per user."""
    rate_limit_typing: RateSetting = Rate(10, 10)
    """typing.set per user and room."""
    rate_limit_register: RateSetting = Rate(10, 3600)
    """auth.register per client address."""
    rate_limit_login: RateSetting = Rate(30, 60)
    """auth.login per client address."""
    rate_limit_failed_logins: RateSetting = Rate(10, 900)
    """Failed auth.login per username (any case)."""
    rate_limit_refresh: RateSetting = Rate(60, 60)
    """auth.refresh per client address (a database write each, no password hash)."""
    rate_limit_change_password: RateSetting = Rate(5, 3600)
    """auth.changePassword per session: each call verifies the current password, so the
    holder of a stolen access token gets this many guesses."""
    max_concurrent_hashes: int = Field(2, gt=0)
    """Password hashes running at once (each in a worker thread)."""
    max_queued_hashes: int = Field(16, ge=0)
    """Logins and registrations waiting for a hash slot; one more is TOO_MANY_REQUESTS."""
    max_concurrent_replays: int = Field(2, gt=0)
    """Stream replays (catch-up from the log) reading and sending a page at once."""
    history_cache_bytes: int = Field(8 * 1024 * 1024, ge=0)
    """Recently read messages.list pages kept encoded per process (0: none)."""
    max_calls_per_connection: int = Field(64, gt=0)
    """Queries and mutations in flight on one WebSocket."""
    max_connections: int = Field(10_000, gt=0)
    """Open connections per port (HTTP and WebSocket counted separately)."""
    max_connections_per_ip: int = Field(256, gt=0)
    """Open connections per client address and port (not for trusted proxies)."""
    header_timeout_seconds: float = Field(10.0, gt=0)
    """Time a client has to send a request's headers (or the WebSocket handshake)."""
    forwarded_allow_ips: str = "127.0.0.1"
    """Proxies trusted to set X-Forwarded-For (uvicorn's convention: IPs, CIDRs, ``*``)."""
    ws_ping_interval_seconds: float = Field(30.0, gt=0)
    ws_pong_timeout_seconds: float = Field(5.0, gt=0)
    sse_ping_ms: int | None = Field(15_000, gt=0)
    sse_reconnect_after_inactivity_ms: int | None = Field(45_000, gt=0)
    shutdown_grace_seconds: float = Field(3.0, ge=0)

    # Password hashing (argon2id). Production strength by default; tests lower them.
    argon2_time_cost: int = Field(3, ge=1)
    argon2_memory_cost: int = Field(65536, ge=8)
    argon2_parallelism: int = Field(4, ge=1)

    @field_validator(
        "rate_limit_edits",
        "rate_limit_rooms",
        "rate_limit_typing",
        "rate_limit_register",
        "rate_limit_login",
        "rate_limit_failed_logins",
        "rate_limit_refresh",
        "rate_limit_change_password",
        mode="before",
    )
    @classmethod
    def _rate(cls, value: object) -> Rate:
        if isinstance(value, (str, Rate)):
            return parse_rate(value)
        raise ValueError("a rate is written <count>/<window>, e.g. 30/10s")

    @field_validator("jwt_secret")
    @classmethod
    def _secret_length(cls, value: str | None) -> str | None:
        if value is not None and len(value.encode()) < MIN_JWT_SECRET_BYTES:
            raise ValueError(
                f"JWT_SECRET must be at least {MIN_JWT_SECRET_BYTES} bytes "
                f"(got {len(value.encode())}); e.g. `openssl rand -hex 32`"
            )
        return value

    @field_validator("jwt_expires_in", "refresh_expires_in", mode="before")
    @classmethod
    def _duration(cls, value: object) -> timedelta:
        if isinstance(value, (str, int, float, timedelta)):
            return parse_duration(value)
        raise ValueError("must be a duration such as 7d or 3600")

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]
