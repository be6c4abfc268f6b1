"""Register, log in, look up users."""

from __future__ import annotations

import asyncio

import pytest

from wirechat.chat.auth import PasswordHasher, TokenService
from wirechat.chat.errors import Conflict, InvalidCredentials, NotFound
from wirechat.chat.models import User
from wirechat.chat.services import accounts
from wirechat.db.session import SessionFactory, transaction


async def test_register_returns_a_token_for_the_new_user(
    sessions: SessionFactory, hasher: PasswordHasher, tokens: TokenService
) -> None:
    result = await accounts.register(
        sessions, hasher, tokens, username="Alice", password="password1", display_name="Al"
    )
    assert (result.user.username, result.user.display_name) == ("Alice", "Al")
    claims = tokens.verify(result.token)
    assert claims is not None
    assert claims.user_id == result.user.id


async def test_display_name_defaults_to_the_username(
    sessions: SessionFactory, hasher: PasswordHasher, tokens: TokenService
) -> None:
    result = await accounts.register(
        sessions, hasher, tokens, username="bob_1", password="password1"
    )
    assert result.user.display_name == "bob_1"


async def test_password_is_stored_hashed(
    sessions: SessionFactory, hasher: PasswordHasher, tokens: TokenService
) -> None:
    result = await accounts.register(
        sessions, hasher, tokens, username="alice", password="password1"
    )
    async with transaction(sessions) as session:
        row = await session.get(User, result.user.id)
    assert row is not None
    assert row.password_hash.startswith("$argon2id$")


@pytest.mark.parametrize("second", ["alice", "ALICE", "aLiCe"])
async def test_username_taken_ignoring_case_is_a_conflict(
    sessions: SessionFactory, hasher: PasswordHasher, tokens: TokenService, second: str
) -> None:
    await accounts.register(sessions, hasher, tokens, username="Alice", password="password1")
    with pytest.raises(Conflict):
        await accounts.register(sessions, hasher, tokens, username=second, password="password2")


async def test_concurrent_registrations_of_one_name_create_one_user(
    sessions: SessionFactory, hasher: PasswordHasher, tokens: TokenService
) -> None:
    results = await asyncio.gather(
        *(
            accounts.register(sessions, hasher, tokens, username=name, password="password1")
            for name in ["carol", "Carol", "CAROL", "carol", "cArol"]
        ),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, Conflict) for r in results if isinstance(r, BaseException))


async def test_login_with_any_case_of_the_username(
    sessions: SessionFactory, hasher: PasswordHasher, tokens: TokenService
) -> None:
    registered = await accounts.register(
        sessions, hasher, tokens, username="Alice", password="password1"
    )
    result = await accounts.login(sessions, hasher, tokens, username="aLICE", password="password1")
    assert result.user == registered.user
    claims = tokens.verify(result.token)
    assert claims is not None
    assert claims.user_id == registered.user.id


@pytest.mark.parametrize(
    ("username", "password"), [("alice", "wrong-password"), ("nobody", "password1")]
)
async def test_login_with_wrong_password_or_unknown_user_is_refused_alike(
    sessions: SessionFactory,
    hasher: PasswordHasher,
    tokens: TokenService,
    username: str,
    password: str,
) -> None:
    await accounts.register(sessions, hasher, tokens, username="alice", password="password1")
    with pytest.raises(InvalidCredentials) as info:
        await accounts.login(sessions, hasher, tokens, username=username, password=password)
    assert str(info.value) == "invalid username or password"


async def test_login_upgrades_a_hash_made_with_old_costs(
    sessions: SessionFactory, hasher: PasswordHasher, tokens: TokenService
) -> None:
    old = PasswordHasher(time_cost=1, memory_cost=16, parallelism=1)
    user = (
        await accounts.register(sessions, old, tokens, username="alice", password="password1")
    ).user
    await accounts.login(sessions, hasher, tokens, username="alice", password="password1")
    async with transaction(sessions) as session:
        row = await session.get(User, user.id)
    assert row is not None
    assert not hasher.needs_rehash(row.password_hash)
    assert hasher.verify(row.password_hash, "password1")


async def test_get_user(
    sessions: SessionFactory, hasher: PasswordHasher, tokens: TokenService
) -> None:
    user = (
        await accounts.register(sessions, hasher, tokens, username="alice", password="password1")
    ).user
    assert await accounts.get_user(sessions, user.id) == user
    with pytest.raises(NotFound):
        await accounts.get_user(sessions, user.id + 1000)
