"""Tables: times round-trip as UTC milliseconds, constraints hold, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.exc import IntegrityError

from wirechat.chat.models import Room, User, utc_now
from wirechat.db.session import SessionFactory, transaction


def _user(name: str, created_at: datetime) -> User:
    return User(
        username=name,
        username_lower=name.lower(),
        display_name=name,
        password_hash="x",
        created_at=created_at,
    )


async def test_times_come_back_as_utc_truncated_to_milliseconds(sessions: SessionFactory) -> None:
    local = datetime(2026, 1, 31, 14, 0, 0, 123987, tzinfo=timezone(timedelta(hours=2)))
    async with transaction(sessions, write=True) as session:
        user = _user("alice", local)
        session.add(user)
    async with transaction(sessions) as session:
        stored = await session.get(User, user.id)
    assert stored is not None
    assert stored.created_at == datetime(2026, 1, 31, 12, 0, 0, 123000, tzinfo=UTC)
    assert stored.created_at.tzinfo == UTC


def test_utc_now_has_millisecond_precision() -> None:
    now = utc_now()
    assert now.tzinfo == UTC
    assert now.microsecond % 1000 == 0


async def test_naive_times_are_refused(sessions: SessionFactory) -> None:
    with pytest.raises(Exception, match="naive"):
        async with transaction(sessions, write=True) as session:
            session.add(_user("alice", datetime(2026, 1, 1)))


async def test_usernames_are_unique_ignoring_case(sessions: SessionFactory) -> None:
    async with transaction(sessions, write=True) as session:
        session.add(_user("Alice", utc_now()))
    with pytest.raises(IntegrityError):
        async with transaction(sessions, write=True) as session:
            session.add(_user("ALICE", utc_now()))


async def test_foreign_keys_are_enforced(sessions: SessionFactory) -> None:
    with pytest.raises(IntegrityError):
        async with transaction(sessions, write=True) as session:
            session.add(
                Room(
                    name="r",
                    is_private=False,
                    is_direct=False,
                    owner_id=999,
                    created_at=utc_now(),
                    last_seq=0,
                )
            )
