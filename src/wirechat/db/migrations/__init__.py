"""Alembic environment and revisions of the wirechat schema (run by ``wirechat.db.migrate``)."""

__all__: list[str] = []
