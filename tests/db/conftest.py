"""Fixtures for the database tests (defined in ``tests/db/fixtures.py``)."""

from db.fixtures import database_url, engine, postgres_url, sessions

__all__ = ["database_url", "engine", "postgres_url", "sessions"]
