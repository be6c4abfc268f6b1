"""The chat's storage seam (see :mod:`wirechat.chat.store.base`) and the one place that
picks its implementation."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from wirechat.chat.store.base import (
    EVENT_PAGE,
    ChatStore,
    EventLog,
    EventRow,
    MessageResult,
    StoredEvent,
    event_pages,
)
from wirechat.chat.store.pages import DEFAULT_MAX_BYTES, PageCache
from wirechat.chat.store.rows import MessageJSON, MessagePageJSON
from wirechat.chat.store.sql import SQLStore
from wirechat.chat.store.sqlite import SQLiteStore
from wirechat.db.sqlite import open_direct

__all__ = [
    "DEFAULT_MAX_BYTES",
    "EVENT_PAGE",
    "ChatStore",
    "EventLog",
    "EventRow",
    "MessageJSON",
    "MessagePageJSON",
    "MessageResult",
    "PageCache",
    "SQLStore",
    "SQLiteStore",
    "StoredEvent",
    "event_pages",
    "open_store",
]


def open_store(engine: AsyncEngine, *, history_bytes: int = DEFAULT_MAX_BYTES) -> ChatStore:
    """The store for ``engine``'s database: a direct synchronous connection for a SQLite
    file on the in-loop driver, SQLAlchemy Core otherwise. It keeps up to
    ``history_bytes`` of recently read history pages (0: none). Close it with ``aclose()``
    before disposing of the engine."""
    pages = PageCache(history_bytes)
    direct = open_direct(engine.dialect, engine.url.database)
    if direct is not None:
        return SQLiteStore(direct, pages)
    return SQLStore(engine, pages)
