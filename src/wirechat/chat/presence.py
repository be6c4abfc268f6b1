"""Who is online in a room: users holding at least one ``messages.onMessage`` stream."""

from __future__ import annotations

from collections import Counter
from typing import Protocol

__all__ = ["MemoryPresence", "PresenceStore"]


class PresenceStore(Protocol):
    """Counts open streams per (room, user); ``True`` from join/leave means the set changed."""

    async def join(self, room_id: int, user_id: int) -> bool: ...

    async def leave(self, room_id: int, user_id: int) -> bool: ...

    async def online(self, room_id: int) -> list[int]: ...

    def local_entries(self) -> int:
        """(room, user) pairs this process holds a stream for (a gauge on /metrics)."""
        ...

    async def aclose(self) -> None: ...


class MemoryPresence:
    """Presence for a single process."""

    def __init__(self) -> None:
        self._streams: Counter[tuple[int, int]] = Counter()
        self._rooms: dict[int, set[int]] = {}

    async def join(self, room_id: int, user_id: int) -> bool:
        key = (room_id, user_id)
        self._streams[key] += 1
        if self._streams[key] > 1:
            return False
        self._rooms.setdefault(room_id, set()).add(user_id)
        return True

    async def leave(self, room_id: int, user_id: int) -> bool:
        key = (room_id, user_id)
        if self._streams[key] <= 0:
            return False
        self._streams[key] -= 1
        if self._streams[key] > 0:
            return False
        del self._streams[key]
        users = self._rooms.get(room_id)
        if users is not None:
            users.discard(user_id)
            if not users:
                del self._rooms[room_id]
        return True

    async def online(self, room_id: int) -> list[int]:
        return sorted(self._rooms.get(room_id, ()))

    def local_entries(self) -> int:
        return len(self._streams)

    async def aclose(self) -> None:
        return None
