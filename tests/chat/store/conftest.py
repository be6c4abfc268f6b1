"""The contract suite also runs SQLStore on SQLite: the path an in-memory or aiosqlite
database takes, and a check that both ways of running a program agree on one database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from wirechat.chat.store import ChatStore, SQLStore, open_store


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # On PostgreSQL the chosen store is SQLStore already: run that pairing once.
    keep, drop = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        duplicate = params.get("store") == "sql" and params.get("database_url") == "postgresql"
        (drop if duplicate else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(params=["chosen", "sql"])
async def store(request: pytest.FixtureRequest, engine: AsyncEngine) -> AsyncIterator[ChatStore]:
    """The store assembly picks for ``engine``, and SQLStore on SQLite as well."""
    if request.param == "sql":
        opened: ChatStore = SQLStore(engine)
    else:
        opened = open_store(engine)
    yield opened
    await opened.aclose()
