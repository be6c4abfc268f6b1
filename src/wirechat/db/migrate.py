"""Run the Alembic migrations programmatically (``wirechat migrate``, ``make run``).

The migration scripts ship inside the package, so no ``alembic.ini`` is needed in the
current directory.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

from wirechat.db.session import WRITE_OPTION, create_engine

__all__ = ["MIGRATIONS_DIR", "alembic_config", "current_revision", "head_revision", "upgrade"]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

# Any constant works; it only has to be the same in every process migrating one database.
_PG_ADVISORY_LOCK_KEY = 0x77697265  # "wire"


def alembic_config() -> Config:
    """Return an Alembic config pointing at the packaged migration scripts."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """Return the newest revision shipped with this version of wirechat."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


async def upgrade(url: str) -> None:
    """Bring the database at ``url`` to the newest schema revision.

    Safe to run from several processes at once: on PostgreSQL an advisory lock and on
    SQLite ``BEGIN IMMEDIATE`` make them take turns, and the later ones find nothing to do.

    Raises:
        sqlalchemy.exc.OperationalError (or the driver's own error): database unreachable.
    """
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            conn = await conn.execution_options(**{WRITE_OPTION: True})
            async with conn.begin():
                if conn.dialect.name == "postgresql":
                    await conn.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_ADVISORY_LOCK_KEY}
                    )
                await conn.run_sync(_upgrade_on)
    finally:
        await engine.dispose()


def _upgrade_on(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def current_revision(url: str) -> str | None:
    """Return the revision the database at ``url`` is at, or None before the first one."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
    finally:
        await engine.dispose()
