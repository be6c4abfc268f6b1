"""Routers: nested definitions flattened to dotted paths when built as in tRPC."""

from __future__ import annotations

from typing import Any

import pytest

from wirechat.rpc.init import init_rpc
from wirechat.rpc.router import Router

t = init_rpc(dict)


async def _noop(ctx: Any, value: Any) -> None:
    return None


hello = t.procedure.query(_noop)
create = t.procedure.mutation(_noop)
events = t.procedure.subscription(_noop)


def test_nested_mappings_flatten_to_dotted_paths() -> None:
    router = Router({"hello": hello, "rooms": {"create": create, "deep": {"events": events}}})
    assert sorted(router) == ["hello", "rooms.create", "rooms.deep.events"]
    assert router.get("rooms.deep.events") is events
    assert len(router) == 3


def test_a_nested_router_is_mounted_under_its_name() -> None:
    rooms = Router({"create": create, "members": {"list": hello}})
    router = Router({"rooms": rooms, "hello": hello})
    assert sorted(router) == ["hello", "rooms.create", "rooms.members.list"]
    assert router.get("rooms.members.list") is hello


def test_lookup_of_an_unknown_path_is_none() -> None:
    router = Router({"hello": hello})
    assert router.get("nope") is None
    assert router.get("hello.x") is None
    assert "hello" in router
    assert "nope" not in router


def test_rpc_router_builds_a_router() -> None:
    assert isinstance(t.router({"hello": hello}), Router)


@pytest.mark.parametrize("name", ["", "a.b", "a,b", "a/b"])
def test_invalid_names_are_rejected(name: str) -> None:
    with pytest.raises(ValueError, match="Invalid procedure name"):
        Router({name: hello})


@pytest.mark.parametrize("name", ["then", "call", "apply"])
def test_reserved_names_are_rejected(name: str) -> None:
    with pytest.raises(ValueError, match="Reserved procedure name"):
        Router({name: hello})


def test_reserved_names_are_rejected_in_nested_definitions() -> None:
    with pytest.raises(ValueError, match="Reserved"):
        Router({"rooms": {"then": hello}})


def test_invalid_names_in_nested_definitions_name_the_parent() -> None:
    with pytest.raises(ValueError, match=r"rooms\."):
        Router({"rooms": {"a.b": hello}})


def test_the_same_procedure_may_be_mounted_at_two_paths() -> None:
    router = Router({"a": hello, "b": {"a": hello}})
    assert router.get("a") is router.get("b.a") is hello


def test_merge_combines_both_routers() -> None:
    merged = Router({"hello": hello}).merge(Router({"rooms": {"create": create}}))
    assert sorted(merged) == ["hello", "rooms.create"]
    assert merged.get("rooms.create") is create


def test_merge_leaves_both_routers_unchanged() -> None:
    left, right = Router({"hello": hello}), Router({"create": create})
    left.merge(right)
    assert list(left) == ["hello"]
    assert list(right) == ["create"]


def test_merge_rejects_duplicate_paths() -> None:
    left = Router({"rooms": {"create": create}, "hello": hello})
    right = Router({"rooms": {"create": hello}})
    with pytest.raises(ValueError, match=r"Duplicate procedure paths: rooms\.create"):
        left.merge(right)
