"""tracked(id, data): resumable subscription events (COVERAGE.md items 57, 70, 82)."""

from __future__ import annotations

import dataclasses

import pytest

from wirechat.rpc.tracked import Tracked, tracked


def test_tracked_keeps_the_id_and_the_data() -> None:
    event = tracked("1", {"n": 1})
    assert event == Tracked("1", {"n": 1})
    assert (event.id, event.data) == ("1", {"n": 1})


def test_tracked_events_are_immutable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        tracked("1", None).id = "2"  # type: ignore[misc]


@pytest.mark.parametrize("bad", ["", "a\nb", "a\rb", "a\0b"])
def test_tracked_refuses_ids_that_would_break_sse_framing(bad: str) -> None:
    """(≥11.2x) ids are non-empty and free of NUL, CR and LF."""
    with pytest.raises(ValueError):
        tracked(bad, 1)


def test_tracked_refuses_a_non_string_id() -> None:
    with pytest.raises(ValueError):
        tracked(1, "x")  # type: ignore[arg-type]
