"""JSON codec, lazy input and tRPC's lastEventId merge rules (COVERAGE.md items 62-64, 83)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field

from wirechat.rpc.codec import (
    UNDEFINED,
    InputSource,
    Undefined,
    decode_input,
    dumps,
    loads,
    merge_last_event_id,
)
from wirechat.rpc.errors import ErrorCode, RPCError


class Room(BaseModel):
    room_id: int = Field(alias="roomId")


def test_undefined_is_a_falsy_singleton() -> None:
    assert Undefined() is UNDEFINED
    assert not UNDEFINED
    assert repr(UNDEFINED) == "UNDEFINED"


def test_dumps_is_compact_utf8_json() -> None:
    assert dumps({"a": [1, "é"]}) == '{"a":[1,"é"]}'.encode()


def test_dumps_encodes_pydantic_models_by_alias() -> None:
    assert dumps({"room": Room(roomId=3)}) == b'{"room":{"roomId":3}}'


def test_dumps_encodes_sets_and_tuples_as_arrays() -> None:
    assert loads(dumps({"t": (1, 2), "s": {3}})) == {"t": [1, 2], "s": [3]}


def test_dumps_refuses_unknown_types() -> None:
    with pytest.raises(TypeError):
        dumps(object())


def test_loads_raises_value_error_on_bad_json() -> None:
    with pytest.raises(ValueError):
        loads(b"{nope")


@pytest.mark.parametrize("text", [None, b"", ""])
def test_decode_input_treats_absent_or_empty_text_as_undefined(text: bytes | str | None) -> None:
    """missing ?input= and a bodyless POST both mean undefined (c2, c5)."""
    assert decode_input(text) is UNDEFINED


def test_decode_input_decodes_json() -> None:
    assert decode_input('{"a":1}') == {"a": 1}
    assert decode_input(b"null") is None


def test_decode_input_turns_bad_json_into_bad_request_with_the_parser_message() -> None:
    with pytest.raises(RPCError) as info:
        decode_input("notjson")
    assert info.value.code is ErrorCode.BAD_REQUEST
    assert info.value.message
    assert info.value.message != "BAD_REQUEST"


def test_input_source_does_not_decode_until_read() -> None:
    """parsing is lazy, so procedures that never read input don't fail."""
    calls: list[int] = []

    def loader() -> object:
        calls.append(1)
        return {"x": 1}

    source = InputSource(loader)
    assert calls == []
    assert source.raw() == {"x": 1}
    assert source.raw() == {"x": 1}
    assert calls == [1]


def test_input_source_from_bad_json_fails_only_when_read() -> None:
    source = InputSource.from_json("notjson")
    with pytest.raises(RPCError) as info:
        source.raw()
    assert info.value.code is ErrorCode.BAD_REQUEST


def test_input_source_from_absent_json_is_undefined() -> None:
    assert InputSource.from_json(None).raw() is UNDEFINED


def test_input_source_of_a_decoded_value_returns_it() -> None:
    assert InputSource.of([1, 2]).raw() == [1, 2]
    assert InputSource().raw() is UNDEFINED


def test_input_source_for_subscription_merges_the_last_event_id() -> None:
    source = InputSource.from_json('{"x":1}', last_event_id="2")
    assert source.raw() == {"x": 1}
    assert source.for_subscription() == {"x": 1, "lastEventId": "2"}


def test_merge_without_an_id_leaves_the_input_alone() -> None:
    value = {"x": 1}
    assert merge_last_event_id(value, None) is value
    assert merge_last_event_id(UNDEFINED, None) is UNDEFINED


def test_merge_adds_the_id_to_an_object_input() -> None:
    """c62: Last-Event-ID 2 with input {"x":1} gives {"x":1,"lastEventId":"2"}."""
    assert merge_last_event_id({"x": 1}, "2") == {"x": 1, "lastEventId": "2"}


def test_merge_overrides_a_last_event_id_already_in_the_input() -> None:
    """c63: the request's id beats the one in the input."""
    assert merge_last_event_id({"lastEventId": "1"}, "2") == {"lastEventId": "2"}


def test_merge_does_not_mutate_the_input() -> None:
    value = {"x": 1}
    merge_last_event_id(value, "2")
    assert value == {"x": 1}


@pytest.mark.parametrize("value", [UNDEFINED, None])
def test_merge_turns_absent_or_null_input_into_an_object(value: object) -> None:
    """c64: no input + Last-Event-ID gives {"lastEventId": ...}."""
    assert merge_last_event_id(value, "7") == {"lastEventId": "7"}


@pytest.mark.parametrize("value", ["text", 5, 1.5, True, [1, 2]])
def test_merge_leaves_a_primitive_input_unchanged(value: object) -> None:
    """c64: primitive input is unchanged (the id is lost)."""
    assert merge_last_event_id(value, "7") == value
