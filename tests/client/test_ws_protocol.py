"""Client messages of tRPC over WebSocket, no I/O."""

from __future__ import annotations

import orjson

from wirechat.client import UNSET
from wirechat.client.ws import protocol
from wirechat.client.ws.protocol import Data, Failure, Invalid, Reconnect, Started, Stopped


def test_request_leaves_absent_input_out_and_adds_last_event_id() -> None:
    assert protocol.request(1, "query", "a.b", UNSET) == {
        "id": 1,
        "method": "query",
        "params": {"path": "a.b"},
    }
    assert protocol.request(2, "subscription", "s", {"x": 1}, "7") == {
        "id": 2,
        "method": "subscription",
        "params": {"input": {"x": 1}, "path": "s", "lastEventId": "7"},
    }


def test_messages_of_one_tick_are_packed_as_an_array() -> None:
    one = protocol.stop(3)
    assert orjson.loads(protocol.pack([one])) == one
    assert orjson.loads(protocol.pack([one, one])) == [one, one]


def test_connection_params_message() -> None:
    assert orjson.loads(protocol.connection_params({"token": "t"})) == {
        "method": "connectionParams",
        "data": {"token": "t"},
    }
    assert orjson.loads(protocol.connection_params(None))["data"] is None


def test_server_messages_parse() -> None:
    frame = orjson.dumps(
        [
            {"id": 1, "result": {"type": "started"}},
            {"id": 1, "result": {"type": "data", "data": {"id": "4", "data": 5}, "id": "4"}},
            {"id": 1, "result": {"type": "data", "data": {"plain": True}}},
            {"id": 6, "result": {"type": "data"}},
            {"id": 1, "result": {"type": "stopped"}},
            {"id": None, "error": {"code": -32700}},
            {"id": None, "method": "reconnect"},
            {"id": 2, "result": {"type": "weird"}},
        ]
    )
    assert protocol.parse(frame) == [
        Started(1),
        Data(1, {"id": "4", "data": 5}, True, "4"),
        Data(1, {"plain": True}, True, None),
        Data(6, None, False, None),
        Stopped(1),
        Failure(None, {"code": -32700}),
        Reconnect(),
        Invalid("unknown result type: {'id': 2, 'result': {'type': 'weird'}}"),
    ]


def test_unreadable_frame_is_invalid_not_an_exception() -> None:
    (item,) = protocol.parse(b"not json")
    assert isinstance(item, Invalid)
    (item,) = protocol.parse(b"5")
    assert isinstance(item, Invalid)
