"""Recently read history pages, kept encoded and checked against the database on every
read.

A page of ``messages.list`` changes only when a message of its room is sent, edited or
deleted, and each of those appends an event in the same transaction, raising the room's
``last_seq`` (:mod:`wirechat.chat.store.transactions`). So a page read when the room
was at ``last_seq`` = n is still the page while the room is at n. Every read checks
that: the membership query that every call runs anyway returns the room's ``last_seq``
too, and a page stored under another number is read again. Nothing needs invalidating,
in this process or any other: the number comes from the database that every process
writes to. Authors' usernames and display names, joined into each item, never change
(no procedure changes them); one that does must also raise ``last_seq`` of every room
the user wrote in.

The page read after the number is at least as new as the number (each statement sees
every commit the one before it saw), so an entry is never older than the number it is
stored under; at worst it is newer, and the next read with the newer number reads it
again.
"""

from __future__ import annotations

__all__ = ["DEFAULT_MAX_BYTES", "PageCache", "PageKey"]

DEFAULT_MAX_BYTES = 8 * 1024 * 1024
"""About 700 pages of 50 short messages (11 KiB each); fewer when texts are long."""

PageKey = tuple[int, int | None, int]
"""``(room_id, cursor, limit)``: which page of which room."""


class PageCache:
    """Encoded history pages by :data:`PageKey`, each with the room's ``last_seq`` it
    was read at, up to ``max_bytes`` of pages in all: the least recently used go first,
    and a page larger than that is not kept (0: keep none)."""

    __slots__ = ("_bytes", "_pages", "max_bytes")

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must be 0 or more")
        self.max_bytes = max_bytes
        # Insertion order is recency order: a hit moves its page to the end.
        self._pages: dict[PageKey, tuple[int, bytes]] = {}
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._pages)

    @property
    def size(self) -> int:
        """Bytes of the pages kept."""
        return self._bytes

    def get(self, key: PageKey, last_seq: int) -> bytes | None:
        """The page stored for ``key`` if it was read at ``last_seq``; else None."""
        entry = self._pages.pop(key, None)
        if entry is None:
            return None
        if entry[0] != last_seq:
            self._bytes -= len(entry[1])  # stale: the caller reads and stores it again
            return None
        self._pages[key] = entry
        return entry[1]

    def put(self, key: PageKey, last_seq: int, page: bytes) -> None:
        """Keep ``page``, read when the room was at ``last_seq``."""
        pages = self._pages
        old = pages.pop(key, None)
        if old is not None:
            self._bytes -= len(old[1])
        if len(page) > self.max_bytes:
            return
        pages[key] = (last_seq, page)
        self._bytes += len(page)
        while self._bytes > self.max_bytes:
            oldest = next(iter(pages))
            self._bytes -= len(pages.pop(oldest)[1])
