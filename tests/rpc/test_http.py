"""HTTPHandler driven directly: tRPC over HTTP and batching, COVERAGE.md items 1-40."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import orjson
import pytest

from wirechat.rpc.codec import UNDEFINED
from wirechat.rpc.context import RequestInfo
from wirechat.rpc.envelopes import ErrorShape
from wirechat.rpc.errors import ErrorCode, RPCError
from wirechat.rpc.http import HTTPHandler

from .app import build_router
from .support import Ctx, body_json, header, make_handler, request


def q(value: Any) -> str:
    """``input=<encodeURIComponent(JSON.stringify(value))>`` as the client builds it."""
    return "input=" + quote(orjson.dumps(value).decode(), safe="")


@pytest.fixture
def log() -> dict[str, Any]:
    return {}


@pytest.fixture
def handler(log: dict[str, Any]) -> HTTPHandler:
    return make_handler(build_router(log))


def assert_error(item: Any, code: ErrorCode, path: str | None = None) -> ErrorShape:
    """``item`` is ``{"error": shape}`` with the code's number, key and status (c21)."""
    assert set(item) == {"error"}
    shape: ErrorShape = item["error"]
    assert isinstance(shape["message"], str)
    assert shape["code"] == code.json_rpc
    assert shape["data"]["code"] == code.name
    assert shape["data"]["httpStatus"] == code.http_status
    if path is None:
        assert "path" not in shape["data"]
    else:
        assert shape["data"]["path"] == path
    return shape


# -- HTTP basics (1-24) --------------------------------------------------------------


async def test_c1_get_with_input_returns_one_result_object(handler: HTTPHandler) -> None:
    response = await request(handler, "GET", "hello", q("x"))
    assert response.status == 200
    assert header(response, "content-type") == "application/json"
    assert header(response, "vary") == "trpc-accept, accept"
    assert await body_json(response) == {"result": {"data": {"hello": "x"}}}


async def test_c1_leading_and_trailing_slashes_are_stripped(handler: HTTPHandler) -> None:
    response = await request(handler, "GET", "/hello/", q("x"))
    assert await body_json(response) == {"result": {"data": {"hello": "x"}}}


async def test_c2_get_without_input_gives_the_procedure_undefined_input(
    handler: HTTPHandler, log: dict[str, Any]
) -> None:
    response = await request(handler, "GET", "hello")
    assert await body_json(response) == {"result": {"data": {"hello": None}}}
    assert log["raw"] == [UNDEFINED]


async def test_c2_empty_input_parameter_is_undefined(
    handler: HTTPHandler, log: dict[str, Any]
) -> None:
    response = await request(handler, "GET", "hello", "input=")
    assert response.status == 200
    assert log["raw"] == [UNDEFINED]


async def test_c3_undefined_result_has_no_data_key(handler: HTTPHandler) -> None:
    assert await body_json(await request(handler, "GET", "undef")) == {"result": {}}


async def test_c3_none_result_is_data_null(handler: HTTPHandler) -> None:
    response = await request(handler, "GET", "none")
    assert response.body == b'{"result":{"data":null}}'


async def test_c4_post_json_body_is_the_mutation_input(handler: HTTPHandler) -> None:
    response = await request(handler, "POST", "mut", body=b'{"a":1}')
    assert response.status == 200
    assert header(response, "content-type") == "application/json"
    assert await body_json(response) == {"result": {"data": {"a": 1}}}


async def test_c5_post_without_body_gives_undefined_input(
    handler: HTTPHandler, log: dict[str, Any]
) -> None:
    response = await request(handler, "POST", "mut")
    assert response.status == 200
    assert await body_json(response) == {"result": {"data": None}}
    assert log["raw"] == [UNDEFINED]


@pytest.mark.parametrize(
    "content_type", ["Application/JSON; charset=utf-8", "application/json;charset=UTF-8"]
)
async def test_c6_json_media_type_ignores_case_and_parameters(
    handler: HTTPHandler, content_type: str
) -> None:
    response = await request(
        handler, "POST", "mut", body=b"[1]", headers={"content-type": content_type}
    )
    assert response.status == 200
    assert await body_json(response) == {"result": {"data": [1]}}


async def test_c7_post_without_content_type_is_415(handler: HTTPHandler) -> None:
    response = await request(handler, "POST", "mut", body=b"{}", headers={})
    assert response.status == 415
    assert header(response, "content-type") == "application/json"
    shape = assert_error(await body_json(response), ErrorCode.UNSUPPORTED_MEDIA_TYPE)
    assert shape["message"] == "Missing content-type header"


@pytest.mark.parametrize("method", ["PUT", "POST"])
async def test_c8_text_plain_body_is_415(handler: HTTPHandler, method: str) -> None:
    response = await request(
        handler, method, "mut", body=b"x", headers={"content-type": "text/plain"}
    )
    assert response.status == 415
    shape = assert_error(await body_json(response), ErrorCode.UNSUPPORTED_MEDIA_TYPE)
    assert shape["message"] == 'Unsupported content-type "text/plain'


async def test_options_without_content_type_falls_into_the_415_check(
    handler: HTTPHandler,
) -> None:
    """no special OPTIONS handling in the engine (CORS is the app's business)."""
    response = await request(handler, "OPTIONS", "hello", headers={})
    assert response.status == 415


async def test_c9_get_on_a_mutation_is_405_with_allow_post(handler: HTTPHandler) -> None:
    response = await request(handler, "GET", "mut")
    assert response.status == 405
    assert header(response, "allow") == "POST"
    shape = assert_error(await body_json(response), ErrorCode.METHOD_NOT_SUPPORTED, "mut")
    assert shape["message"] == 'Unsupported GET-request to mutation procedure at path "mut"'


async def test_c10_post_on_a_query_without_override_is_405_with_allow_get(
    handler: HTTPHandler,
) -> None:
    response = await request(handler, "POST", "hello", body=b'"x"')
    assert response.status == 405
    assert header(response, "allow") == "GET"
    shape = assert_error(await body_json(response), ErrorCode.METHOD_NOT_SUPPORTED, "hello")
    assert shape["message"] == 'Unsupported POST-request to query procedure at path "hello"'


async def test_post_on_a_subscription_without_override_is_405_with_allow_get(
    handler: HTTPHandler,
) -> None:
    response = await request(handler, "POST", "sub", body=b"{}")
    assert response.status == 405
    assert header(response, "allow") == "GET"


async def test_c11_override_lets_a_query_be_posted(log: dict[str, Any]) -> None:
    handler = make_handler(build_router(log), allow_method_override=True)
    response = await request(handler, "POST", "hello", body=b'"x"')
    assert response.status == 200
    assert await body_json(response) == {"result": {"data": {"hello": "x"}}}


async def test_c11_override_lets_a_query_batch_be_posted(log: dict[str, Any]) -> None:
    handler = make_handler(build_router(log), allow_method_override=True)
    response = await request(handler, "POST", "a,b", "batch=1", body=b'{"0":1,"1":2}')
    assert response.status == 200
    assert await body_json(response) == [{"result": {"data": 1}}, {"result": {"data": 2}}]


async def test_c12_override_never_allows_get_on_a_mutation(log: dict[str, Any]) -> None:
    handler = make_handler(build_router(log), allow_method_override=True)
    response = await request(handler, "GET", "mut")
    assert response.status == 405
    assert header(response, "allow") == "POST"
    assert_error(await body_json(response), ErrorCode.METHOD_NOT_SUPPORTED, "mut")


async def test_c12_override_allows_get_and_post_on_a_query_in_the_allow_header(
    log: dict[str, Any],
) -> None:
    handler = make_handler(build_router(log), allow_method_override=True)
    response = await request(handler, "PUT", "hello", body=b"1")
    assert response.status == 405
    assert header(response, "allow") == "GET, POST"


async def test_c13_unknown_path_is_404(handler: HTTPHandler) -> None:
    response = await request(handler, "GET", "nope")
    assert response.status == 404
    shape = assert_error(await body_json(response), ErrorCode.NOT_FOUND, "nope")
    assert shape["message"] == 'No procedure found on path "nope"'


async def test_c14_nested_router_procedure_resolves_by_dotted_path(handler: HTTPHandler) -> None:
    response = await request(handler, "GET", "nested.deep", q(1))
    assert await body_json(response) == {"result": {"data": {"hello": None}}}


async def test_c15_encoded_comma_splits_a_batch_like_a_plain_one(handler: HTTPHandler) -> None:
    encoded = await request(handler, "GET", "a%2Cb", "batch=1&input=%7B%7D")
    plain = await request(handler, "GET", "a,b", "batch=1&input=%7B%7D")
    assert encoded.status == plain.status == 200
    assert encoded.body == plain.body == b'[{"result":{"data":null}},{"result":{"data":null}}]'


async def test_percent_encoded_path_is_decoded(handler: HTTPHandler) -> None:
    response = await request(handler, "GET", "nested%2Edeep")
    assert response.status == 200


@pytest.mark.parametrize("path", ["%E0%A4%A", "hello%", "hello%zz", "%FF"])
async def test_c16_bad_percent_escape_is_a_top_level_400(handler: HTTPHandler, path: str) -> None:
    response = await request(handler, "GET", path, "batch=1")
    assert response.status == 400
    shape = assert_error(await body_json(response), ErrorCode.BAD_REQUEST)
    assert shape["message"] == f'Invalid URL-encoding in path "{path}"'


async def test_c17_input_that_is_not_json_is_400_with_the_path(handler: HTTPHandler) -> None:
    response = await request(handler, "GET", "hello", "input=notjson")
    assert response.status == 400
    shape = assert_error(await body_json(response), ErrorCode.BAD_REQUEST, "hello")
    assert shape["message"] != "BAD_REQUEST"  # the parser's message


async def test_c17_bad_json_does_not_fail_a_procedure_that_never_reads_input(
    handler: HTTPHandler,
) -> None:
    """parsing is lazy."""
    response = await request(handler, "GET", "noinput", "input=notjson")
    assert response.status == 200


async def test_c17_bad_json_body_is_400_with_the_path(handler: HTTPHandler) -> None:
    response = await request(handler, "POST", "mut", body=b"{oops")
    assert response.status == 400
    assert_error(await body_json(response), ErrorCode.BAD_REQUEST, "mut")


@pytest.mark.parametrize("path", ["hello", "nope", "mut"])
async def test_c18_head_is_204_with_an_empty_body(handler: HTTPHandler, path: str) -> None:
    response = await request(handler, "HEAD", path)
    assert response.status == 204
    assert response.body == b""


async def test_c19_plain_exception_is_500_with_the_message_hidden(handler: HTTPHandler) -> None:
    response = await request(handler, "GET", "boom")
    assert response.status == 500
    shape = assert_error(await body_json(response), ErrorCode.INTERNAL_SERVER_ERROR, "boom")
    assert shape["message"] == "INTERNAL_SERVER_ERROR"


async def test_c19_plain_exception_message_is_shown_in_dev_mode(log: dict[str, Any]) -> None:
    handler = make_handler(build_router(log), engine_options={"is_dev": True})
    body = await body_json(await request(handler, "GET", "boom"))
    assert body["error"]["message"] == "secret internals"
    assert "RuntimeError" in body["error"]["data"]["stack"]


@pytest.mark.parametrize("code", list(ErrorCode), ids=lambda c: c.name)
async def test_c20_each_error_key_gives_its_json_rpc_code_and_http_status(
    handler: HTTPHandler, code: ErrorCode
) -> None:
    response = await request(handler, "GET", "code", q(code.name))
    assert response.status == code.http_status
    shape = assert_error(await body_json(response), code, "code")
    assert shape["message"] == f"raised {code.name}"


async def test_c21_error_keys_are_message_code_data(handler: HTTPHandler) -> None:
    response = await request(handler, "GET", "fail")
    assert response.body == (
        b'{"error":{"message":"nope","code":-32001,'
        b'"data":{"code":"UNAUTHORIZED","httpStatus":401,"path":"fail"}}}'
    )


async def test_c22_formatter_setting_http_status_418_sets_the_response_status(
    log: dict[str, Any],
) -> None:
    def teapot(shape: ErrorShape, err: RPCError) -> ErrorShape:
        shape["data"]["httpStatus"] = 418
        return shape

    handler = make_handler(build_router(log), engine_options={"error_formatter": teapot})
    response = await request(handler, "GET", "fail")
    assert response.status == 418
    assert (await body_json(response))["error"]["data"]["httpStatus"] == 418


async def test_formatter_stripping_http_status_keeps_the_status_of_the_error_key(
    log: dict[str, Any],
) -> None:
    def strip(shape: ErrorShape, err: RPCError) -> ErrorShape:
        del shape["data"]["httpStatus"]
        return shape

    handler = make_handler(build_router(log), engine_options={"error_formatter": strip})
    response = await request(handler, "GET", "fail")
    assert "httpStatus" not in (await body_json(response))["error"]["data"]
    assert response.status == 401


async def test_c23_unknown_query_parameters_are_ignored(handler: HTTPHandler) -> None:
    response = await request(handler, "GET", "hello", f"tenant=1&{q('x')}&z=%7B")
    assert await body_json(response) == {"result": {"data": {"hello": "x"}}}


async def test_c24_generator_from_a_non_stream_request_is_415(handler: HTTPHandler) -> None:
    response = await request(handler, "GET", "gen")
    assert response.status == 415
    shape = assert_error(await body_json(response), ErrorCode.UNSUPPORTED_MEDIA_TYPE, "gen")
    assert shape["message"] == (
        "Cannot use stream-like response in non-streaming request - use httpBatchStreamLink"
    )


async def test_form_encoded_plus_in_the_query_is_a_space(handler: HTTPHandler) -> None:
    """standard form decoding of the query string."""
    response = await request(handler, "GET", "hello", 'input="a+b"')
    assert await body_json(response) == {"result": {"data": {"hello": "a b"}}}


async def test_unserializable_result_is_a_500_error_response(handler: HTTPHandler) -> None:
    response = await request(handler, "GET", "unserializable")
    assert response.status == 500
    body = await body_json(response)
    assert body["error"]["data"]["code"] == "INTERNAL_SERVER_ERROR"


# -- batching (25-40) ------------------------------------------------------------------


async def test_c25_batch_returns_an_array_in_path_order(handler: HTTPHandler) -> None:
    response = await request(handler, "GET", "a,b", q({"0": 1, "1": 2}) + "&batch=1")
    assert await body_json(response) == [{"result": {"data": 1}}, {"result": {"data": 2}}]


async def test_c26_all_success_batch_is_200(handler: HTTPHandler) -> None:
    response = await request(handler, "GET", "a,b,undef", "batch=1&input=%7B%7D")
    assert response.status == 200
    assert header(response, "content-type") == "application/json"
    assert await body_json(response) == [
        {"result": {"data": None}},
        {"result": {"data": None}},
        {"result": {}},
    ]


async def test_c27_batch_with_one_failure_returns_207(handler: HTTPHandler) -> None:
    response = await request(handler, "GET", "a,fail", "batch=1&input=%7B%7D")
    assert response.status == 207
    items = await body_json(response)
    assert items[0] == {"result": {"data": None}}
    assert_error(items[1], ErrorCode.UNAUTHORIZED, "fail")


async def test_c28_two_identical_errors_give_their_status(handler: HTTPHandler) -> None:
    response = await request(handler, "GET", "fail,fail", "batch=1")
    assert response.status == 401
    items = await body_json(response)
    assert [item["error"]["data"]["code"] for item in items] == ["UNAUTHORIZED"] * 2


async def test_c29_two_different_errors_give_207(handler: HTTPHandler) -> None:
    response = await request(handler, "GET", "fail,missing", "batch=1")
    assert response.status == 207


async def test_c30_unknown_path_in_a_batch_is_a_not_found_item(handler: HTTPHandler) -> None:
    response = await request(handler, "GET", "a,nope,b", "batch=1&input=%7B%7D")
    assert response.status == 207
    items = await body_json(response)
    assert len(items) == 3
    assert_error(items[1], ErrorCode.NOT_FOUND, "nope")
    assert items[0] == items[2] == {"result": {"data": None}}


async def test_c31_missing_batch_key_is_undefined_input(
    handler: HTTPHandler, log: dict[str, Any]
) -> None:
    response = await request(handler, "GET", "a,b", q({"1": "z"}) + "&batch=1")
    assert await body_json(response) == [{"result": {"data": None}}, {"result": {"data": "z"}}]
    assert sorted(log["raw"], key=repr) == sorted([UNDEFINED, "z"], key=repr)


@pytest.mark.parametrize("raw", ["5", "%5B1%5D", "%22s%22"])
async def test_c32_batch_input_that_is_not_an_object_fails_every_call(
    handler: HTTPHandler, raw: str
) -> None:
    response = await request(handler, "GET", "a,b", f"batch=1&input={raw}")
    assert response.status == 400
    items = await body_json(response)
    assert len(items) == 2
    for item, path in zip(items, ["a", "b"], strict=True):
        shape = assert_error(item, ErrorCode.BAD_REQUEST, path)
        assert shape["message"] == '"input" needs to be an object when doing a batch call'


async def test_c33_post_batch_with_a_missing_key_is_undefined_input(handler: HTTPHandler) -> None:
    response = await request(handler, "POST", "m,m", "batch=1", body=b'{"0":{"a":1}}')
    assert response.status == 200
    assert await body_json(response) == [
        {"result": {"data": {"a": 1}}},
        {"result": {"data": None}},
    ]


async def test_c34_mixed_procedure_types_are_one_top_level_400(handler: HTTPHandler) -> None:
    response = await request(handler, "GET", "hello,mut", "batch=1")
    assert response.status == 400
    shape = assert_error(await body_json(response), ErrorCode.BAD_REQUEST)
    assert shape["message"] == "Cannot mix procedure types in call: query, mutation"


async def test_c34_unknown_paths_do_not_count_toward_the_type_check(handler: HTTPHandler) -> None:
    response = await request(handler, "POST", "m,nope", "batch=1", body=b"{}")
    assert response.status == 207


async def test_c35_batching_disabled_rejects_any_batch_with_one_object(
    log: dict[str, Any],
) -> None:
    handler = make_handler(build_router(log), allow_batching=False)
    response = await request(handler, "GET", "a", "batch=1&input=%7B%7D")
    assert response.status == 400
    shape = assert_error(await body_json(response), ErrorCode.BAD_REQUEST)
    assert shape["message"] == "Batching is not enabled on the server"
    assert "raw" not in log
    single = await request(handler, "GET", "a")
    assert single.status == 200


async def test_c36_batch_over_max_batch_size_is_one_top_level_400(log: dict[str, Any]) -> None:
    handler = make_handler(build_router(log), max_batch_size=2)
    response = await request(handler, "GET", "a,a,a", "batch=1")
    assert response.status == 400
    shape = assert_error(await body_json(response), ErrorCode.BAD_REQUEST)
    assert shape["message"] == "Batch call exceeds maximum size"
    assert (await request(handler, "GET", "a,a", "batch=1")).status == 200


async def test_c36_comma_flood_is_refused_before_routing(handler: HTTPHandler) -> None:
    """Issue #5825: ``,,,,`` paths cannot make the server allocate unbounded calls."""
    response = await request(handler, "GET", "," * 1000, "batch=1")
    assert response.status == 400
    assert isinstance(await body_json(response), dict)


async def test_c37_batch_of_one_is_an_array_of_one(handler: HTTPHandler) -> None:
    response = await request(handler, "GET", "a", q({"0": 1}) + "&batch=1")
    assert response.status == 200
    assert await body_json(response) == [{"result": {"data": 1}}]


async def test_c38_create_context_failure_is_attached_to_every_call(log: dict[str, Any]) -> None:
    async def deny(info: RequestInfo) -> Any:
        raise RPCError(ErrorCode.UNAUTHORIZED, "who are you")

    handler = make_handler(build_router(log), deny)
    response = await request(handler, "GET", "a,b", "batch=1&input=%7B%7D")
    assert response.status == 401
    items = await body_json(response)
    assert isinstance(items, list)
    for item, path in zip(items, ["a", "b"], strict=True):
        assert assert_error(item, ErrorCode.UNAUTHORIZED, path)["message"] == "who are you"
    assert "raw" not in log


async def test_c38_create_context_failure_on_a_single_call_is_an_object_with_the_path(
    log: dict[str, Any],
) -> None:
    async def broken(info: RequestInfo) -> Any:
        raise RuntimeError("db down")

    handler = make_handler(build_router(log), broken)
    response = await request(handler, "GET", "hello")
    assert response.status == 500
    assert_error(await body_json(response), ErrorCode.INTERNAL_SERVER_ERROR, "hello")


async def test_c39_context_is_created_once_per_batch_and_batch_index_counts_calls(
    log: dict[str, Any],
) -> None:
    created: list[RequestInfo] = []

    async def count(info: RequestInfo) -> Any:
        created.append(info)
        return {"n": len(created)}

    handler = make_handler(build_router(log), count)
    response = await request(handler, "GET", "a,b,a,b", "batch=1&input=%7B%7D")
    assert response.status == 200
    assert len(created) == 1
    assert created[0].transport == "http"
    assert sorted(log["batch_index"]) == [0, 1, 2, 3]
    assert all(ctx is log["ctx"][0] for ctx in log["ctx"])


async def test_c39_batch_index_of_a_single_call_is_zero(
    handler: HTTPHandler, log: dict[str, Any]
) -> None:
    await request(handler, "GET", "a")
    assert log["batch_index"] == [0]


async def test_c39_batch_calls_run_concurrently(log: dict[str, Any]) -> None:
    handler = make_handler(build_router(log))
    started = time.perf_counter()
    response = await request(
        handler, "GET", "slow,slow,slow", q({"0": 0.1, "1": 0.1, "2": 0.1}) + "&batch=1"
    )
    assert response.status == 200
    assert time.perf_counter() - started < 0.25


async def test_c40_subscription_in_a_batch_is_a_per_call_bad_request(
    handler: HTTPHandler,
) -> None:
    response = await request(handler, "GET", "sub", "batch=1&input=%7B%7D")
    assert response.status == 400
    items = await body_json(response)
    shape = assert_error(items[0], ErrorCode.BAD_REQUEST, "sub")
    assert shape["message"] == "Cannot batch subscription calls"


async def test_no_context_is_created_when_every_call_already_failed(log: dict[str, Any]) -> None:
    created: list[RequestInfo] = []

    async def count(info: RequestInfo) -> Any:
        created.append(info)
        return {}

    handler = make_handler(build_router(log), count)
    await request(handler, "GET", "nope,nope2", "batch=1")
    assert created == []


# -- request facts and connectionParams -------------------------------------------------


async def test_create_context_sees_headers_query_and_connection_params(
    log: dict[str, Any],
) -> None:
    created: list[RequestInfo] = []

    async def keep(info: RequestInfo) -> Ctx:
        created.append(info)
        return Ctx(info)

    handler = make_handler(build_router(log), keep)
    query = "connectionParams=" + quote('{"token":"t","x":null}') + "&tenant=1"
    await request(handler, "GET", "a", query, headers={"authorization": "Bearer x"})
    info = created[0]
    assert info.headers["authorization"] == "Bearer x"
    assert info.query["tenant"] == "1"
    assert info.connection_params == {"token": "t", "x": None}


async def test_c66_connection_params_that_are_not_json_are_a_400_parse_error(
    handler: HTTPHandler,
) -> None:
    response = await request(handler, "GET", "a", "connectionParams=%7Bnope")
    assert response.status == 400
    shape = assert_error(await body_json(response), ErrorCode.PARSE_ERROR)
    assert shape["message"] == "Not JSON-parsable query params"


@pytest.mark.parametrize("params", ['{"a":1}', "[1]", '"x"', '{"a":{"b":"c"}}'])
async def test_c66_connection_params_of_the_wrong_shape_are_a_400_parse_error(
    handler: HTTPHandler, params: str
) -> None:
    response = await request(handler, "GET", "a", "connectionParams=" + quote(params))
    assert response.status == 400
    shape = assert_error(await body_json(response), ErrorCode.PARSE_ERROR)
    assert shape["message"] == "Invalid connection params shape"


async def test_payload_too_large_is_a_413_error_object(handler: HTTPHandler) -> None:
    response = handler.payload_too_large(10)
    assert response.status == 413
    assert_error(orjson.loads(response.body), ErrorCode.PAYLOAD_TOO_LARGE)  # type: ignore[arg-type]
