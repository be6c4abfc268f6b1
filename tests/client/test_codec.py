"""URLs, bodies and outcomes of tRPC over HTTP, no I/O."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

import orjson
import pytest

from wirechat.client import UNSET, TRPCClientError
from wirechat.client.codec import (
    batch_body,
    batch_url,
    decode_batch,
    decode_single,
    encode_component,
    procedure_url,
)


def test_encode_component_matches_encode_uri_component() -> None:
    # encodeURIComponent(JSON.stringify({"a":"b c+d/é","n":[1]}))
    assert encode_component({"a": "b c+d/é", "n": [1]}) == (
        "%7B%22a%22%3A%22b%20c%2Bd%2F%C3%A9%22%2C%22n%22%3A%5B1%5D%7D"
    )
    assert encode_component("!~*'()") == "%22!~*'()%22"


def test_procedure_url_keeps_the_base_query_first() -> None:
    assert procedure_url("http://h/trpc/", "a.b") == "http://h/trpc/a.b"
    assert (
        procedure_url("http://h/trpc?tenant=1", "a", [("input", "2")])
        == "http://h/trpc/a?tenant=1&input=2"
    )


def test_batch_get_url_leaves_absent_inputs_out() -> None:
    url = batch_url("http://h/trpc", ["a", "b", "c"], [UNSET, {"x": 1}, None])
    parts = urlsplit(url)
    assert unquote(parts.path) == "/trpc/a,b,c"
    query = parse_qs(parts.query)
    assert query["batch"] == ["1"]
    assert orjson.loads(query["input"][0]) == {"1": {"x": 1}, "2": None}


def test_batch_with_no_inputs_sends_an_empty_object() -> None:
    assert batch_url("http://h/trpc", ["a"], [UNSET]).endswith("?batch=1&input=%7B%7D")


def test_batch_post_has_the_inputs_in_the_body_only() -> None:
    assert batch_url("http://h/trpc", ["m", "m"], None) == "http://h/trpc/m,m?batch=1"
    assert orjson.loads(batch_body([{"a": 1}, UNSET])) == {"0": {"a": 1}}


def test_batch_answer_is_read_item_by_item() -> None:
    body = orjson.dumps(
        [
            {"result": {"data": 1}},
            {"result": {}},
            {"error": {"message": "no", "code": -32003, "data": {"code": "FORBIDDEN"}}},
        ]
    )
    ok, undefined, failed = decode_batch(207, body, 3)
    assert ok.data == 1 and ok.error is None
    assert undefined.data is None and undefined.error is None
    assert failed.error is not None
    # A 207 belongs to no single call: the status comes from the code.
    assert (failed.error.code, failed.error.http_status) == ("FORBIDDEN", 403)


def test_top_level_error_object_answers_every_call() -> None:
    body = orjson.dumps(
        {"error": {"message": "Batch call exceeds maximum size", "code": -32600, "data": {}}}
    )
    outcomes = decode_batch(400, body, 2)
    assert [o.error.code for o in outcomes if o.error] == ["BAD_REQUEST", "BAD_REQUEST"]
    assert outcomes[0].error is not None and outcomes[0].error.http_status == 400


def test_http_status_in_data_wins() -> None:
    shape = {"message": "tea", "code": -32603, "data": {"code": "X", "httpStatus": 418}}
    (outcome,) = decode_batch(418, orjson.dumps([{"error": shape}]), 1)
    assert outcome.error is not None and outcome.error.http_status == 418
    assert outcome.error.shape == shape


def test_error_without_data_falls_back_to_the_code_number() -> None:
    error = TRPCClientError.from_shape({"message": "m", "code": -32004})
    assert (error.code, error.http_status) == ("NOT_FOUND", 404)


def test_non_json_body_is_a_client_error() -> None:
    with pytest.raises(TRPCClientError) as caught:
        decode_single(502, b"<html>bad gateway</html>")
    assert caught.value.http_status == 502
    assert caught.value.code is None


def test_batch_of_the_wrong_length_is_a_client_error() -> None:
    with pytest.raises(TRPCClientError):
        decode_batch(200, b"[]", 1)


def test_malformed_items_are_client_errors() -> None:
    (outcome,) = decode_batch(200, b'[{"error": {"message": "no code"}}]', 1)
    assert outcome.error is not None and "Unable to transform" in outcome.error.message
    (outcome,) = decode_batch(200, b"[5]", 1)
    assert outcome.error is not None
