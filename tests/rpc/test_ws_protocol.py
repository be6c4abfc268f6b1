"""Sans-I/O WebSocket frames: parse_frame and the encoders (tRPC v11 WebSocket messages)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from wirechat.rpc.codec import UNDEFINED, dumps
from wirechat.rpc.errors import ErrorCode, RPCError
from wirechat.rpc.tracked import tracked
from wirechat.rpc.ws.protocol import (
    PING,
    PONG,
    RECONNECT,
    ConnectionParams,
    Invalid,
    Ping,
    Pong,
    Request,
    Stop,
    TooManyInBatch,
    encode_data,
    encode_error,
    encode_result,
    parse_connection_params,
    parse_frame,
    subscription_prefix,
    tracked_body,
)


def frame(value: Any) -> str:
    return orjson.dumps(value).decode()


def invalid_message(text: str | bytes, **kw: Any) -> str:
    """The PARSE_ERROR message of a frame that must be rejected as a whole."""
    events = parse_frame(text, **kw)
    assert len(events) == 1
    [event] = events
    assert isinstance(event, Invalid)
    assert event.error.code is ErrorCode.PARSE_ERROR
    return event.error.message


# -- control frames ---------------------------------------------------------


@pytest.mark.parametrize("text", ["PING", b"PING"])
def test_c80_text_ping_is_a_ping_event(text: str | bytes) -> None:
    assert parse_frame(text) == [Ping()]


@pytest.mark.parametrize("text", ["PONG", b"PONG"])
def test_c80_text_pong_is_a_pong_event(text: str | bytes) -> None:
    assert parse_frame(text) == [Pong()]


def test_ping_check_is_exact() -> None:
    assert isinstance(parse_frame("ping")[0], Invalid)
    assert isinstance(parse_frame(" PING")[0], Invalid)


# -- requests ----------------------------------------------------------------------


def test_c71_query_request_is_parsed() -> None:
    text = frame({"id": 1, "method": "query", "params": {"path": "hello", "input": "x"}})
    assert parse_frame(text) == [Request(1, "query", "hello", "x", None, False)]


def test_missing_input_is_undefined() -> None:
    [request] = parse_frame(frame({"id": 2, "method": "mutation", "params": {"path": "m"}}))
    assert isinstance(request, Request)
    assert request.input is UNDEFINED


def test_null_input_is_none() -> None:
    [request] = parse_frame(
        frame({"id": 2, "method": "query", "params": {"path": "m", "input": None}})
    )
    assert isinstance(request, Request)
    assert request.input is None


def test_c72_string_id_and_jsonrpc_are_kept() -> None:
    text = frame({"id": "abc", "jsonrpc": "2.0", "method": "mutation", "params": {"path": "m"}})
    [request] = parse_frame(text)
    assert isinstance(request, Request)
    assert (request.id, request.jsonrpc) == ("abc", True)


@pytest.mark.parametrize("rid", [0, -3, 1.5, "", "x"])
def test_ids_may_be_any_string_or_number(rid: Any) -> None:
    [request] = parse_frame(frame({"id": rid, "method": "query", "params": {"path": "p"}}))
    assert isinstance(request, Request)
    assert request.id == rid
    assert type(request.id) is type(rid)


def test_c83_last_event_id_is_parsed() -> None:
    text = frame(
        {
            "id": 1,
            "method": "subscription",
            "params": {"path": "s", "input": {}, "lastEventId": "2"},
        }
    )
    [request] = parse_frame(text)
    assert isinstance(request, Request)
    assert (request.method, request.last_event_id) == ("subscription", "2")


def test_stop_is_parsed_without_params() -> None:
    assert parse_frame(frame({"id": 1, "method": "subscription.stop"})) == [Stop(1)]
    assert parse_frame(frame({"id": "s", "jsonrpc": "2.0", "method": "subscription.stop"})) == [
        Stop("s")
    ]


def test_c75_array_frame_gives_one_event_per_member_in_order() -> None:
    text = frame(
        [
            {"id": 1, "method": "query", "params": {"path": "slow"}},
            {"id": 2, "method": "subscription.stop"},
            {"id": 3, "method": "query", "params": {"path": "fast"}},
        ]
    )
    events = parse_frame(text)
    assert [type(e) for e in events] == [Request, Stop, Request]
    assert [e.id for e in events] == [1, 2, 3]  # type: ignore[union-attr]


def test_empty_array_frame_gives_no_events() -> None:
    assert parse_frame("[]") == []


# -- invalid frames -----------------------------------------------------------------


def test_c76_text_that_is_not_json_is_a_parse_error_with_the_parser_message() -> None:
    message = invalid_message("not json")
    try:
        orjson.loads("not json")
    except orjson.JSONDecodeError as exc:
        expected = str(exc)
    assert message == expected


@pytest.mark.parametrize("value", [5, "x", None, True])
def test_frame_that_is_not_an_object_is_a_parse_error(value: Any) -> None:
    assert invalid_message(frame(value)) == "Not an object"


@pytest.mark.parametrize("method", ["bogus", None, 1, "subscription.start", "connectionParams"])
def test_c77_unknown_method_is_invalid_procedure_type(method: Any) -> None:
    text = frame({"id": 1, "method": method, "params": {"path": "p"}})
    assert invalid_message(text) == "Invalid procedure type"


def test_missing_method_is_invalid_procedure_type() -> None:
    assert invalid_message(frame({"id": 1, "params": {"path": "p"}})) == "Invalid procedure type"


@pytest.mark.parametrize("value", [{"id": None}, {}])
def test_c77_null_or_missing_id_is_id_required(value: dict[str, Any]) -> None:
    text = frame({**value, "method": "query", "params": {"path": "p"}})
    assert invalid_message(text) == "`id` is required"


def test_c77_null_id_on_a_stop_is_id_required() -> None:
    assert invalid_message(frame({"id": None, "method": "subscription.stop"})) == (
        "`id` is required"
    )


@pytest.mark.parametrize("rid", [True, False, [1], {"a": 1}])
def test_bad_id_type_is_invalid_request_id(rid: Any) -> None:
    text = frame({"id": rid, "method": "query", "params": {"path": "p"}})
    assert invalid_message(text) == "Invalid request id"


def test_nan_id_is_a_parse_error() -> None:
    """NaN is no id; orjson already refuses the literal, so it never reaches the id check."""
    assert invalid_message('{"id":NaN,"method":"query","params":{"path":"p"}}')


@pytest.mark.parametrize("version", ["1.0", 2, None, ""])
def test_c77_jsonrpc_other_than_2_0_is_refused(version: Any) -> None:
    text = frame({"id": 1, "jsonrpc": version, "method": "query", "params": {"path": "p"}})
    assert invalid_message(text) == "Must be JSONRPC 2.0"


@pytest.mark.parametrize("params", [None, "p", [1]])
def test_non_object_params_is_not_an_object(params: Any) -> None:
    text = frame({"id": 1, "method": "query", "params": params})
    assert invalid_message(text) == "Not an object"


def test_missing_params_is_not_an_object() -> None:
    assert invalid_message(frame({"id": 1, "method": "query"})) == "Not an object"


@pytest.mark.parametrize("path", [None, 1, ["a"]])
def test_non_string_path_is_invalid_string(path: Any) -> None:
    text = frame({"id": 1, "method": "query", "params": {"path": path}})
    assert invalid_message(text) == "Invalid string"


def test_missing_path_is_invalid_string() -> None:
    assert invalid_message(frame({"id": 1, "method": "query", "params": {}})) == "Invalid string"


@pytest.mark.parametrize("last_event_id", [1, ["2"], {"id": "2"}])
def test_non_string_last_event_id_is_invalid_string(last_event_id: Any) -> None:
    text = frame(
        {"id": 1, "method": "subscription", "params": {"path": "s", "lastEventId": last_event_id}}
    )
    assert invalid_message(text) == "Invalid string"


def test_null_last_event_id_is_invalid_string() -> None:
    text = frame({"id": 1, "method": "subscription", "params": {"path": "s", "lastEventId": None}})
    assert invalid_message(text) == "Invalid string"


def test_c78_one_malformed_member_rejects_the_whole_array() -> None:
    text = frame(
        [
            {"id": 1, "method": "query", "params": {"path": "a"}},
            {"id": 2, "method": "bogus", "params": {"path": "b"}},
            {"id": 3, "method": "query", "params": {"path": "c"}},
        ]
    )
    assert invalid_message(text) == "Invalid procedure type"


def test_array_longer_than_max_batch_size_names_each_member_id() -> None:
    """(≥11.2x) each member with a string/number id gets BAD_REQUEST."""
    text = frame(
        [
            {"id": 1, "method": "query", "params": {"path": "a"}},
            {"id": "two", "method": "subscription.stop"},
            {"method": "query"},
            "junk",
            {"id": True},
        ]
    )
    assert parse_frame(text, max_batch_size=4) == [TooManyInBatch((1, "two", None, None, None))]


def test_array_at_max_batch_size_is_parsed() -> None:
    text = frame([{"id": i, "method": "subscription.stop"} for i in range(3)])
    assert parse_frame(text, max_batch_size=3) == [Stop(0), Stop(1), Stop(2)]


# -- connectionParams ---------------------------------------------------------------


def test_c90_connection_params_message_is_parsed() -> None:
    text = frame({"method": "connectionParams", "data": {"token": "good", "x": None}})
    assert parse_connection_params(text) == ConnectionParams({"token": "good", "x": None})


def test_c90_null_connection_params_data_is_none() -> None:
    assert parse_connection_params('{"method":"connectionParams","data":null}') == (
        ConnectionParams(None)
    )


@pytest.mark.parametrize("text", ["nope", "5", '"x"', "[1]", b"\xff"])
def test_undecodable_connection_params_is_malformed(text: str | bytes) -> None:
    with pytest.raises(RPCError) as info:
        parse_connection_params(text)
    assert info.value.code is ErrorCode.PARSE_ERROR
    assert info.value.message == "Malformed TRPCConnectionParamsMessage"


@pytest.mark.parametrize("data", [5, "t", [1], {"token": 1}, {"token": {"a": "b"}}])
def test_connection_params_data_of_the_wrong_shape_is_invalid(data: Any) -> None:
    with pytest.raises(RPCError) as info:
        parse_connection_params(frame({"method": "connectionParams", "data": data}))
    assert info.value.code is ErrorCode.PARSE_ERROR
    assert info.value.message == "Invalid connection params shape"


def test_c91_request_as_first_frame_is_invalid_connection_params_shape() -> None:
    text = frame({"id": 1, "method": "query", "params": {"path": "hello"}})
    with pytest.raises(RPCError) as info:
        parse_connection_params(text)
    assert info.value.message == "Invalid connection params shape"


def test_c91_request_as_first_frame_is_a_parse_error() -> None:
    text = frame({"id": 1, "method": "query", "params": {"path": "hello"}})
    with pytest.raises(RPCError) as info:
        parse_connection_params(text)
    assert info.value.code is ErrorCode.PARSE_ERROR


# -- encoders -------------------------------------------------------------------------


def test_c71_query_result_frame() -> None:
    assert encode_result(1, False, "data", {"hello": "x"}) == (
        b'{"id":1,"result":{"type":"data","data":{"hello":"x"}}}'
    )


def test_c73_undefined_result_has_no_data_key() -> None:
    assert encode_result(6, False, "data") == b'{"id":6,"result":{"type":"data"}}'


def test_none_result_is_data_null() -> None:
    assert encode_result(6, False, "data", None) == b'{"id":6,"result":{"type":"data","data":null}}'


def test_c72_jsonrpc_is_echoed_with_a_string_id() -> None:
    assert encode_result("abc", True, "data", 1) == (
        b'{"id":"abc","jsonrpc":"2.0","result":{"type":"data","data":1}}'
    )


def test_c81_started_and_stopped_frames() -> None:
    assert encode_result(1, False, "started") == b'{"id":1,"result":{"type":"started"}}'
    assert encode_result(1, False, "stopped") == b'{"id":1,"result":{"type":"stopped"}}'


def test_subscription_data_frame_around_a_pre_encoded_payload() -> None:
    prefix = subscription_prefix(1, False)
    assert encode_data(prefix, dumps({"plain": True})) == (
        b'{"id":1,"result":{"type":"data","data":{"plain":true}}}'
    )


def test_c82_tracked_data_frame() -> None:
    prefix = subscription_prefix(1, False)
    assert prefix + tracked_body(tracked("1", {"n": 1})) == (
        b'{"id":1,"result":{"type":"data","data":{"id":"1","data":{"n":1}},"id":"1"}}'
    )


def test_data_frames_decode_to_the_same_value_as_encode_result() -> None:
    prefix = subscription_prefix("s", True)
    assert orjson.loads(encode_data(prefix, b"[1]")) == orjson.loads(
        encode_result("s", True, "data", [1])
    )


def test_error_frames() -> None:
    shape: Any = {
        "message": "m",
        "code": -32700,
        "data": {"code": "PARSE_ERROR", "httpStatus": 400},
    }
    assert encode_error(None, False, shape) == (
        b'{"id":null,"error":{"message":"m","code":-32700,'
        b'"data":{"code":"PARSE_ERROR","httpStatus":400}}}'
    )
    assert encode_error(3, True, shape).startswith(b'{"id":3,"jsonrpc":"2.0","error":{')


def test_c94_reconnect_frame_is_exact() -> None:
    assert RECONNECT == b'{"id":null,"method":"reconnect"}'


def test_ping_and_pong_constants() -> None:
    assert (PING, PONG) == ("PING", "PONG")
