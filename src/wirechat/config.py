"""Settings, read once from the environment and ``.env`` (pydantic-settings).

Only :mod:`wirechat.server` and :mod:`wirechat.cli` read them; everything else
receives plain values as arguments.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "parse_duration"]

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

    # Limits (api.md "Limits").
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
    ws_ping_interval_seconds: float = Field(30.0, gt=0)
    ws_pong_timeout_seconds: float = Field(5.0, gt=0)
    sse_ping_ms: int | None = Field(15_000, gt=0)
    sse_reconnect_after_inactivity_ms: int | None = Field(45_000, gt=0)
    shutdown_grace_seconds: float = Field(3.0, ge=0)

    # Password hashing (argon2id). Production strength by default; tests lower them.
    argon2_time_cost: int = Field(3, ge=1)
    argon2_memory_cost: int = Field(65536, ge=8)
    argon2_parallelism: int = Field(4, ge=1)

    @field_validator("jwt_expires_in", "refresh_expires_in", mode="before")
    @classmethod
    def _duration(cls, value: object) -> timedelta:
        if isinstance(value, (str, int, float, timedelta)):
            return parse_duration(value)
        raise ValueError("must be a duration such as 7d or 3600")

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]
