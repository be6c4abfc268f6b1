"""Sign-in sessions in the database: start, rotate, reuse, end; and a password change."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from chat.factories import MakeUser
from wirechat.chat.auth import PasswordHasher, TokenService, hash_refresh_token
from wirechat.chat.errors import Forbidden, RefreshReused, SessionRefused
from wirechat.chat.models import RefreshToken
from wirechat.chat.services import accounts
from wirechat.chat.services import sessions as signins
from wirechat.db.session import SessionFactory, transaction

DAY = timedelta(days=1)


async def test_a_started_session_is_live_and_stores_only_the_hash_of_its_token(
    sessions: SessionFactory, make_user: MakeUser
) -> None:
    alice = await make_user("alice")
    grant = await signins.start(sessions, alice.id, DAY)
    assert grant.user_id == alice.id
    assert await signins.is_live(sessions, grant.session_id)
    async with transaction(sessions) as session:
        stored = list(await session.scalars(select(RefreshToken.token_hash)))
    assert hash_refresh_token(grant.refresh_token) in stored
    assert grant.refresh_token not in stored


async def test_rotation_keeps_the_session_and_gives_a_new_token(
    sessions: SessionFactory, make_user: MakeUser
) -> None:
    alice = await make_user("alice")
    first = await signins.start(sessions, alice.id, DAY)
    second = await signins.rotate(sessions, first.refresh_token, DAY)
    third = await signins.rotate(sessions, second.refresh_token, DAY)
    assert first.session_id == second.session_id == third.session_id
    assert len({first.refresh_token, second.refresh_token, third.refresh_token}) == 3
    assert await signins.is_live(sessions, first.session_id)


async def test_reusing_any_rotated_token_ends_the_session(
    sessions: SessionFactory, make_user: MakeUser
) -> None:
    alice = await make_user("alice")
    first = await signins.start(sessions, alice.id, DAY)
    second = await signins.rotate(sessions, first.refresh_token, DAY)
    await signins.rotate(sessions, second.refresh_token, DAY)
    with pytest.raises(RefreshReused) as info:
        await signins.rotate(sessions, first.refresh_token, DAY)
    assert info.value.session_id == first.session_id
    assert not await signins.is_live(sessions, first.session_id)


async def test_the_latest_token_is_refused_once_its_session_ended_by_a_reuse(
    sessions: SessionFactory, make_user: MakeUser
) -> None:
    alice = await make_user("alice")
    first = await signins.start(sessions, alice.id, DAY)
    latest = await signins.rotate(sessions, first.refresh_token, DAY)
    with pytest.raises(RefreshReused):
        await signins.rotate(sessions, first.refresh_token, DAY)
    with pytest.raises(SessionRefused):
        await signins.rotate(sessions, latest.refresh_token, DAY)


async def test_two_refreshes_racing_with_one_token_leave_one_winner_and_end_the_session(
    sessions: SessionFactory, make_user: MakeUser
) -> None:
    alice = await make_user("alice")
    grant = await signins.start(sessions, alice.id, DAY)
    results = await asyncio.gather(
        signins.rotate(sessions, grant.refresh_token, DAY),
        signins.rotate(sessions, grant.refresh_token, DAY),
        return_exceptions=True,
    )
    assert sum(isinstance(r, signins.Grant) for r in results) == 1
    assert sum(isinstance(r, RefreshReused) for r in results) == 1
    assert not await signins.is_live(sessions, grant.session_id)


@pytest.mark.parametrize("token", ["", "not-a-token", "x" * 43])
async def test_unknown_refresh_token_is_refused(sessions: SessionFactory, token: str) -> None:
    with pytest.raises(SessionRefused) as info:
        await signins.rotate(sessions, token, DAY)
    assert not isinstance(info.value, RefreshReused)


async def test_expired_refresh_token_is_refused_and_the_session_stays(
    sessions: SessionFactory, make_user: MakeUser
) -> None:
    alice = await make_user("alice")
    grant = await signins.start(sessions, alice.id, timedelta(milliseconds=1))
    await asyncio.sleep(0.01)
    with pytest.raises(SessionRefused):
        await signins.rotate(sessions, grant.refresh_token, DAY)
    assert await signins.is_live(sessions, grant.session_id)


async def test_a_token_of_another_user_is_forbidden_and_not_rotated(
    sessions: SessionFactory, make_user: MakeUser
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    grant = await signins.start(sessions, alice.id, DAY)
    with pytest.raises(Forbidden):
        await signins.rotate(sessions, grant.refresh_token, DAY, expected_user=bob.id)
    rotated = await signins.rotate(sessions, grant.refresh_token, DAY, expected_user=alice.id)
    assert rotated.session_id == grant.session_id


async def test_end_ends_one_session_once(sessions: SessionFactory, make_user: MakeUser) -> None:
    alice = await make_user("alice")
    one = await signins.start(sessions, alice.id, DAY)
    other = await signins.start(sessions, alice.id, DAY)
    assert await signins.end(sessions, one.session_id) == [one.session_id]
    assert await signins.end(sessions, one.session_id) == []
    assert not await signins.is_live(sessions, one.session_id)
    assert await signins.is_live(sessions, other.session_id)
    with pytest.raises(SessionRefused):
        await signins.rotate(sessions, one.refresh_token, DAY)


async def test_end_all_ends_every_live_session_of_the_user_only(
    sessions: SessionFactory, make_user: MakeUser
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    mine = [await signins.start(sessions, alice.id, DAY) for _ in range(3)]
    theirs = await signins.start(sessions, bob.id, DAY)
    await signins.end(sessions, mine[0].session_id)
    ended = await signins.end_all(sessions, alice.id)
    # make_user's registration started one more session of alice's.
    assert len(ended) == 3
    assert {g.session_id for g in mine[1:]} <= set(ended)
    assert mine[0].session_id not in ended
    ids = [g.session_id for g in mine] + [theirs.session_id]
    assert await signins.ended_among(sessions, ids) == [g.session_id for g in mine]
    assert await signins.end_all(sessions, alice.id) == []
    assert await signins.ended_among(sessions, [2**40]) == [2**40]
    assert await signins.ended_among(sessions, []) == []


async def test_is_live_is_false_for_a_session_that_never_existed(
    sessions: SessionFactory,
) -> None:
    assert not await signins.is_live(sessions, 2**40)


async def test_login_and_register_start_a_session_named_in_the_token(
    sessions: SessionFactory, hasher: PasswordHasher, tokens: TokenService
) -> None:
    registered = await accounts.register(
        sessions, hasher, tokens, username="alice", password="password1"
    )
    logged_in = await accounts.login(
        sessions, hasher, tokens, username="alice", password="password1"
    )
    first, second = tokens.verify(registered.token), tokens.verify(logged_in.token)
    assert first is not None and second is not None
    assert first.session_id != second.session_id
    for result, claims in ((registered, first), (logged_in, second)):
        assert (await signins.rotate(sessions, result.refresh_token, DAY)).session_id == (
            claims.session_id
        )


async def test_change_password_ends_every_session_and_starts_a_new_one(
    sessions: SessionFactory, hasher: PasswordHasher, tokens: TokenService
) -> None:
    first = await accounts.register(
        sessions, hasher, tokens, username="alice", password="password1"
    )
    second = await accounts.login(sessions, hasher, tokens, username="alice", password="password1")
    result, ended = await accounts.change_password(
        sessions,
        hasher,
        tokens,
        user_id=first.user.id,
        current_password="password1",
        new_password="password2",
    )
    old = [tokens.verify(r.token) for r in (first, second)]
    assert sorted(ended) == sorted(c.session_id for c in old if c is not None)
    new = tokens.verify(result.token)
    assert new is not None and new.session_id not in ended
    assert await signins.is_live(sessions, new.session_id)
    with pytest.raises(SessionRefused):
        await signins.rotate(sessions, first.refresh_token, DAY)
    await accounts.login(sessions, hasher, tokens, username="alice", password="password2")


async def test_change_password_with_a_wrong_current_password_is_forbidden_and_changes_nothing(
    sessions: SessionFactory, hasher: PasswordHasher, tokens: TokenService
) -> None:
    first = await accounts.register(
        sessions, hasher, tokens, username="alice", password="password1"
    )
    with pytest.raises(Forbidden):
        await accounts.change_password(
            sessions,
            hasher,
            tokens,
            user_id=first.user.id,
            current_password="password9",
            new_password="password2",
        )
    claims = tokens.verify(first.token)
    assert claims is not None and await signins.is_live(sessions, claims.session_id)
    await accounts.login(sessions, hasher, tokens, username="alice", password="password1")
