"""Presence and rate limits shared by every process through Redis (scale-out).

Presence: each process counts its own ``messages.onMessage`` streams per
(room, user) and mirrors the users it holds into ``wirechat:<ns>:presence:<room>``
(a hash whose fields are ``<process>:<user>``). Every process heartbeats into
``wirechat:<ns>:presence:procs`` (a sorted set scored by time); a field whose process
has not beaten for ``dead_after`` seconds no longer counts as online, and the
first live process to notice removes the dead process's fields and announces a
presence change in each of its rooms, so a crashed process's users go offline
within ``dead_after`` + ``heartbeat`` seconds (25 s by default).

Redis may lose these keys (a restart without persistence, a flush, an eviction). Then a
dead process can no longer be swept, since its entry is gone, and nobody would tell the
subscribers that its users went offline: their last snapshot would stand forever. So
each process notices when its own heartbeat entry had vanished, puts its fields back and
announces a change in every room it holds users in or watches, which makes every
subscriber read the presence again.

Rate limits: a sliding-window log per key in a sorted set, checked and updated
atomically by one Lua script, so the limit holds across processes.

When Redis is unreachable both degrade instead of failing calls: presence keeps
answering from this process's own view, and rate limits fall back to a
per-process limiter until Redis answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from wirechat.chat.errors import RateLimited
from wirechat.chat.services.ratelimit import MemoryRateLimiter

__all__ = ["RedisPresence", "RedisRateLimiter"]

logger = logging.getLogger("wirechat.shared_state")


class _Keys:
    """Key names under one deployment's namespace."""

    def __init__(self, namespace: str) -> None:
        self.base = f"wirechat:{namespace}"
        self.procs = f"{self.base}:presence:procs"

    def room(self, room_id: int) -> str:
        return f"{self.base}:presence:{room_id}"

    def proc_rooms(self, proc: str) -> str:
        return f"{self.base}:presence:rooms:{proc}"

    def rate(self, key: str) -> str:
        return f"{self.base}:ratelimit:{key}"


class RedisPresence:
    """:class:`~wirechat.chat.presence.PresenceStore` across processes."""

    def __init__(
        self,
        client: Redis,
        *,
        on_change: Any = None,
        heartbeat: float = 5.0,
        dead_after: float = 20.0,
        namespace: str = "",
        watched_rooms: Callable[[], Iterable[int]] = tuple,
    ) -> None:
        self.client = client
        self.keys = _Keys(namespace)
        self.proc = uuid.uuid4().hex[:12]
        self.heartbeat = heartbeat
        self.dead_after = dead_after
        self.on_change = on_change
        """``async on_change(room_id)``: announce a change (called for dead processes,
        and in every room of this process when Redis lost its keys)."""
        self.watched_rooms = watched_rooms
        """The rooms this process has presence subscribers in (re-announced after a loss)."""
        self._registered = False
        """Whether our heartbeat entry was ever written: its absence after that is a loss."""
        self._announce_pending = False
        """A loss was noticed and not announced yet (the next heartbeat does it)."""
        self._local: Counter[tuple[int, int]] = Counter()
        self._task: asyncio.Task[None] | None = None

    def local_entries(self) -> int:
        return len(self._local)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._beat())

    async def _beat(self) -> None:
        while True:
            try:
                await self._beat_once()
            except RedisError as exc:
                logger.warning("presence heartbeat failed: %s", exc)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("presence heartbeat failed")
            await asyncio.sleep(self.heartbeat)

    async def _beat_once(self) -> None:
        now = time.time()
        if self._lost(await self.client.zadd(self.keys.procs, {self.proc: now})):
            self._announce_pending = True
        # Re-assert our fields: they may have been swept while Redis was unreachable.
        await self._reassert()
        if self._announce_pending:
            await self._announce_all()
            self._announce_pending = False  # else the next beat tries again
        dead = await self.client.zrangebyscore(self.keys.procs, "-inf", now - self.dead_after)
        for raw in dead:
            await self._sweep(raw.decode() if isinstance(raw, bytes) else str(raw))

    async def _reassert(self) -> None:
        if self._local:
            pipe = self.client.pipeline(transaction=False)
            for room_id, user_id in self._local:
                pipe.hset(self.keys.room(room_id), f"{self.proc}:{user_id}", 1)
                pipe.sadd(self.keys.proc_rooms(self.proc), room_id)
            await pipe.execute()

    def _lost(self, added: object) -> bool:
        """Whether writing our heartbeat entry created it although it had been written
        before: Redis lost our keys, and with them maybe a dead process's entry."""
        lost = bool(added) and self._registered
        self._registered = True
        return lost

    async def _announce_all(self) -> None:
        """After a loss: presence may have changed in any room this process knows of
        (a dead process's users are gone and will never be swept), so every subscriber
        of those rooms must read it again."""
        rooms = {room_id for room_id, _ in self._local} | set(self.watched_rooms())
        logger.warning(
            "presence: Redis lost this process's heartbeat; announcing %d rooms again",
            len(rooms),
        )
        if self.on_change is not None:
            for room_id in sorted(rooms):
                await self.on_change(room_id)

    async def _sweep(self, proc: str) -> None:
        """Remove a dead process's presence and announce the change in its rooms."""
        if not await self.client.zrem(self.keys.procs, proc):
            return  # another process is sweeping it
        rooms_key = self.keys.proc_rooms(proc)
        rooms = [int(r) for r in await self.client.smembers(rooms_key)]
        for room_id in rooms:
            key = self.keys.room(room_id)
            fields = [f for f in await self.client.hkeys(key) if _field_proc(f) == proc]
            if fields:
                await self.client.hdel(key, *fields)
            if self.on_change is not None:
                await self.on_change(room_id)
        await self.client.delete(rooms_key)
        logger.info("presence: removed process %s (no heartbeat) from %d rooms", proc, len(rooms))

    async def join(self, room_id: int, user_id: int) -> bool:
        key = (room_id, user_id)
        self._local[key] += 1
        if self._local[key] > 1:
            return False
        try:
            pipe = self.client.pipeline(transaction=False)
            pipe.zadd(self.keys.procs, {self.proc: time.time()})
            pipe.hset(self.keys.room(room_id), f"{self.proc}:{user_id}", 1)
            pipe.sadd(self.keys.proc_rooms(self.proc), room_id)
            added, *_ = await pipe.execute()
            if self._lost(added):
                # The heartbeat will find its entry in place: tell it what happened.
                self._announce_pending = True
        except RedisError as exc:
            logger.warning("presence join not shared (%s); heartbeat will retry", exc)
        return True

    async def leave(self, room_id: int, user_id: int) -> bool:
        key = (room_id, user_id)
        if self._local[key] <= 0:
            return False
        self._local[key] -= 1
        if self._local[key] > 0:
            return False
        del self._local[key]
        try:
            await self.client.hdel(self.keys.room(room_id), f"{self.proc}:{user_id}")
        except RedisError as exc:
            logger.warning("presence leave not shared (%s)", exc)
        return True

    async def online(self, room_id: int) -> list[int]:
        try:
            fields = await self.client.hkeys(self.keys.room(room_id))
            procs = {_field_proc(f) for f in fields}
            alive: set[str] = set()
            if procs:
                now = time.time()
                ordered = sorted(procs)
                scores = await self.client.zmscore(self.keys.procs, ordered)
                alive = {
                    p
                    for p, s in zip(ordered, scores, strict=True)
                    if s is not None and s > now - self.dead_after
                }
            users = {_field_user(f) for f in fields if _field_proc(f) in alive}
        except RedisError as exc:
            logger.warning("presence read from Redis failed (%s); local view only", exc)
            users = {u for (r, u), n in self._local.items() if r == room_id and n > 0}
        return sorted(users)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        with contextlib.suppress(RedisError, OSError):
            pipe = self.client.pipeline(transaction=False)
            for room_id, user_id in self._local:
                pipe.hdel(self.keys.room(room_id), f"{self.proc}:{user_id}")
            pipe.zrem(self.keys.procs, self.proc)
            pipe.delete(self.keys.proc_rooms(self.proc))
            await pipe.execute()
        self._local.clear()


def _field_proc(field: bytes | str) -> str:
    text = field.decode() if isinstance(field, bytes) else field
    return text.partition(":")[0]


def _field_user(field: bytes | str) -> int:
    text = field.decode() if isinstance(field, bytes) else field
    return int(text.partition(":")[2])


# KEYS[1] = the key's log; ARGV = now (ms), window (ms), limit, unique member.
# Returns 0 when the hit is counted, else the milliseconds until the oldest hit expires.
_SLIDING_WINDOW = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1] - ARGV[2])
local count = redis.call('ZCARD', KEYS[1])
if count >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) + ARGV[2] - ARGV[1])
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 0
"""


# The same without counting: KEYS[1]; ARGV = now (ms), window (ms), limit.
_SLIDING_WINDOW_CHECK = """
local count = redis.call('ZCOUNT', KEYS[1], ARGV[1] - ARGV[2] + 1, '+inf')
if count >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1] - ARGV[2] + 1, '+inf',
                            'WITHSCORES', 'LIMIT', 0, 1)
  return math.max(1, tonumber(oldest[2]) + ARGV[2] - ARGV[1])
end
return 0
"""


class RedisRateLimiter:
    """:class:`~wirechat.chat.services.ratelimit.RateLimiter` shared by every process."""

    def __init__(
        self, client: Redis, limit: int = 30, window: float = 10.0, *, namespace: str = ""
    ) -> None:
        self._keys = _Keys(namespace)
        self._script = client.register_script(_SLIDING_WINDOW)
        self._check_script = client.register_script(_SLIDING_WINDOW_CHECK)
        self._limit = limit
        self._window_ms = int(window * 1000)
        self._fallback = MemoryRateLimiter(limit, window)

    async def hit(self, key: str) -> None:
        now_ms = int(time.time() * 1000)
        try:
            wait_ms = await self._script(
                keys=[self._keys.rate(key)],
                args=[now_ms, self._window_ms, self._limit, f"{now_ms}-{uuid.uuid4().hex[:8]}"],
            )
        except RedisError as exc:
            logger.warning("rate limit check in Redis failed (%s); limiting per process", exc)
            await self._fallback.hit(key)
            return
        if int(wait_ms) > 0:
            raise RateLimited(int(wait_ms) / 1000)

    async def check(self, key: str) -> None:
        now_ms = int(time.time() * 1000)
        try:
            wait_ms = await self._check_script(
                keys=[self._keys.rate(key)], args=[now_ms, self._window_ms, self._limit]
            )
        except RedisError as exc:
            logger.warning("rate limit check in Redis failed (%s); limiting per process", exc)
            await self._fallback.check(key)
            return
        if int(wait_ms) > 0:
            raise RateLimited(int(wait_ms) / 1000)
