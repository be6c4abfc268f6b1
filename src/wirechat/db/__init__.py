"""Database access: async engine, sessions and schema migrations."""

from wirechat.db.session import (
    SessionFactory,
    create_engine,
    default_sqlite_url,
    normalize_url,
    retry_on_conflict,
    session_factory,
    transaction,
)

__all__ = [
    "SessionFactory",
    "create_engine",
    "default_sqlite_url",
    "normalize_url",
    "retry_on_conflict",
    "session_factory",
    "transaction",
]
