"""Types of the factory fixtures in ``tests/chat/conftest.py``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from wirechat.chat import schemas

__all__ = ["MakeRoom", "MakeUser"]

MakeUser = Callable[..., Awaitable[schemas.User]]
"""``await make_user("alice")``: a registered user (password ``password123``)."""

MakeRoom = Callable[..., Awaitable[schemas.Room]]
"""``await make_room(owner, "name", is_private=False, members=[user, ...])``."""
