"""Alembic migrations, run through ``upgrade()`` on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from wirechat.chat.models import Base
from wirechat.db.migrate import current_revision, head_revision, upgrade


async def test_upgrade_reaches_head_and_creates_every_table(
    engine: AsyncEngine, database_url: str
) -> None:
    assert await current_revision(database_url) == head_revision()
    async with engine.connect() as conn:
        tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    assert tables >= {"users", "rooms", "room_members", "messages", "room_events"}


async def test_upgrade_twice_is_a_no_op(engine: AsyncEngine, database_url: str) -> None:
    await upgrade(database_url)
    assert await current_revision(database_url) == head_revision()


async def test_migrated_schema_matches_the_models(engine: AsyncEngine) -> None:
    def diff(sync: Connection) -> list[object]:
        context = MigrationContext.configure(sync, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_concurrent_upgrades_of_an_empty_database_both_succeed(database_url: str) -> None:
    await asyncio.gather(upgrade(database_url), upgrade(database_url))
    assert await current_revision(database_url) == head_revision()
