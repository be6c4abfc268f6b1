"""A per-process cache of user profiles.

No procedure changes a user's id, username, display name or creation time
(docs/api.md "users"), so a profile read once stays right for the life of the process;
``auth.me``, ``users.get``, typing and presence read it from memory instead of the
database on every call.
"""

from __future__ import annotations

from collections import OrderedDict

from wirechat.chat import schemas
from wirechat.chat.services import accounts
from wirechat.db.session import SessionFactory

__all__ = ["UserCache"]


class UserCache:
    """Least-recently-used profiles, at most ``capacity`` of them."""

    def __init__(self, sessions: SessionFactory, capacity: int = 100_000) -> None:
        self._sessions = sessions
        self._capacity = capacity
        self._users: OrderedDict[int, schemas.User] = OrderedDict()

    async def get(self, user_id: int) -> schemas.User:
        """Raises NotFound for an unknown id (not cached: the user may be created later)."""
        user = self._users.get(user_id)
        if user is not None:
            self._users.move_to_end(user_id)
            return user
        user = await accounts.get_user(self._sessions, user_id)
        self._users[user_id] = user
        if len(self._users) > self._capacity:
            self._users.popitem(last=False)
        return user
