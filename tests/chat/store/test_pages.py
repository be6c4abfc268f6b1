"""PageCache: a page is returned only for the ``last_seq`` it was read at, and the
least recently used pages go first once the pages pass the byte budget."""

from __future__ import annotations

import pytest

from wirechat.chat.store.pages import PageCache

NEWEST = (1, None, 50)


def test_a_page_is_returned_for_the_seq_it_was_read_at() -> None:
    pages = PageCache(100)
    pages.put(NEWEST, 7, b"page")
    assert pages.get(NEWEST, 7) == b"page"
    assert pages.get(NEWEST, 7) == b"page"


def test_a_page_of_another_seq_is_dropped() -> None:
    pages = PageCache(100)
    pages.put(NEWEST, 7, b"old")
    assert pages.get(NEWEST, 8) is None
    assert (len(pages), pages.size) == (0, 0)
    assert pages.get(NEWEST, 7) is None


def test_cursor_and_limit_name_different_pages() -> None:
    pages = PageCache(100)
    pages.put(NEWEST, 7, b"newest")
    pages.put((1, 10, 50), 7, b"older")
    assert pages.get((1, None, 20), 7) is None
    assert pages.get((1, 10, 50), 7) == b"older"
    assert pages.get((2, None, 50), 7) is None


def test_the_least_recently_used_pages_go_first_past_the_budget() -> None:
    pages = PageCache(10)
    pages.put((1, None, 50), 1, b"1111")
    pages.put((2, None, 50), 1, b"2222")
    assert pages.get((1, None, 50), 1) == b"1111"  # now the most recent
    pages.put((3, None, 50), 1, b"3333")
    assert (len(pages), pages.size) == (2, 8)
    assert pages.get((2, None, 50), 1) is None
    assert pages.get((1, None, 50), 1) == b"1111"
    assert pages.get((3, None, 50), 1) == b"3333"


def test_storing_a_page_again_replaces_it() -> None:
    pages = PageCache(100)
    pages.put(NEWEST, 1, b"first")
    pages.put(NEWEST, 2, b"second!")
    assert (len(pages), pages.size) == (1, 7)
    assert pages.get(NEWEST, 2) == b"second!"


def test_a_page_over_the_budget_is_not_kept_and_drops_its_old_copy() -> None:
    pages = PageCache(4)
    pages.put(NEWEST, 1, b"four")
    pages.put(NEWEST, 2, b"fiver")
    assert (len(pages), pages.size) == (0, 0)


def test_no_page_is_kept_with_a_budget_of_zero() -> None:
    pages = PageCache(0)
    pages.put(NEWEST, 1, b"page")
    assert len(pages) == 0
    assert pages.get(NEWEST, 1) is None


def test_a_negative_budget_is_refused() -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        PageCache(-1)
