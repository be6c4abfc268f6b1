"""Wire-level conformance over real server processes: what the client cannot produce.

Exact bytes for HTTP, JSONL and SSE answers, and raw WebSocket frames (picows
client). Test names start with the numbers of the protocol behaviours they check,
as listed in COVERAGE.md.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
import pytest

from .rawsocket import RawSocket, masked_frame

if TYPE_CHECKING:
    from .conftest import Server

ERROR_TABLE = {
    "PARSE_ERROR": (-32700, 400),
    "BAD_REQUEST": (-32600, 400),
    "INTERNAL_SERVER_ERROR": (-32603, 500),
    "NOT_IMPLEMENTED": (-32603, 501),
    "BAD_GATEWAY": (-32603, 502),
    "SERVICE_UNAVAILABLE": (-32603, 503),
    "GATEWAY_TIMEOUT": (-32603, 504),
    "UNAUTHORIZED": (-32001, 401),
    "PAYMENT_REQUIRED": (-32002, 402),
    "FORBIDDEN": (-32003, 403),
    "NOT_FOUND": (-32004, 404),
    "METHOD_NOT_SUPPORTED": (-32005, 405),
    "TIMEOUT": (-32008, 408),
    "CONFLICT": (-32009, 409),
    "PRECONDITION_FAILED": (-32012, 412),
    "PAYLOAD_TOO_LARGE": (-32013, 413),
    "UNSUPPORTED_MEDIA_TYPE": (-32015, 415),
    "UNPROCESSABLE_CONTENT": (-32022, 422),
    "PRECONDITION_REQUIRED": (-32028, 428),
    "TOO_MANY_REQUESTS": (-32029, 429),
    "CLIENT_CLOSED_REQUEST": (-32099, 499),
}


def enc(value: Any) -> str:
    return quote(json.dumps(value, separators=(",", ":")), safe="")


def tag(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def error_body(message: str, key: str, path: str | None = None) -> bytes:
    code, status = ERROR_TABLE[key]
    data: dict[str, Any] = {"code": key, "httpStatus": status}
    if path is not None:
        data["path"] = path
    shape = {"message": message, "code": code, "data": data}
    return json.dumps({"error": shape}, separators=(",", ":")).encode()


def assert_error(item: Any, key: str, path: str | None = None) -> dict[str, Any]:
    """c21: string message, integer code, data.code and data.httpStatus as in the table."""
    code, status = ERROR_TABLE[key]
    shape = item["error"]
    assert isinstance(shape["message"], str)
    assert shape["code"] == code and isinstance(shape["code"], int)
    assert shape["data"]["code"] == key
    assert shape["data"]["httpStatus"] == status
    if path is None:
        assert "path" not in shape["data"]
    else:
        assert shape["data"]["path"] == path
    return shape


@pytest.fixture(scope="module")
def http(main_server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=main_server.trpc, timeout=5) as client:
        yield client


@pytest.fixture(scope="module")
def alt(servers: dict[str, Server]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=servers["alt"].trpc, timeout=5) as client:
        yield client


def events(http: httpx.Client, name: str) -> list[Any]:
    return http.get(f"/events?input={enc(name)}").json()["result"]["data"]


async def await_event(http: httpx.Client, name: str, event: Any, within: float = 1.0) -> None:
    """As :func:`wait_for_event`, letting this process's event loop run meanwhile."""
    deadline = time.monotonic() + within
    while event not in events(http, name):
        assert time.monotonic() < deadline, (
            f"{event!r} not recorded under {name}: {events(http, name)}"
        )
        await asyncio.sleep(0.02)


def wait_for_event(http: httpx.Client, name: str, event: Any, timeout: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while event not in events(http, name):
        assert time.monotonic() < deadline, (
            f"{event!r} not recorded under {name}: {events(http, name)}"
        )
        time.sleep(0.02)


# -- HTTP basics ------------------------------------------------------------------------


def test_c1_query_is_one_json_object(http: httpx.Client) -> None:
    res = http.get("/hello?input=%22x%22")
    assert res.status_code == 200
    assert res.headers["content-type"] == "application/json"
    assert res.headers["vary"].startswith("trpc-accept, accept")
    assert res.content == b'{"result":{"data":{"hello":"x"}}}'


def test_c2_missing_input_is_none(http: httpx.Client) -> None:
    assert http.get("/hello").content == b'{"result":{"data":{"hello":null}}}'
    assert http.get("/hello?input=").content == b'{"result":{"data":{"hello":null}}}'


def test_c3_undefined_result_has_no_data_key_and_none_is_null(http: httpx.Client) -> None:
    assert http.get("/undef").content == b'{"result":{}}'
    assert http.get("/none").content == b'{"result":{"data":null}}'


def test_c4_mutation_with_json_body(http: httpx.Client) -> None:
    res = http.post("/mut", content=b'{"a":1}', headers={"content-type": "application/json"})
    assert (res.status_code, res.content) == (200, b'{"result":{"data":{"got":{"a":1}}}}')


def test_c5_mutation_with_empty_body_gets_none(http: httpx.Client) -> None:
    res = http.post("/mut", headers={"content-type": "application/json", "content-length": "0"})
    assert (res.status_code, res.content) == (200, b'{"result":{"data":{"got":null}}}')


def test_c6_content_type_media_type_is_case_insensitive_with_params(http: httpx.Client) -> None:
    res = http.post(
        "/mut", content=b"[1]", headers={"content-type": "Application/JSON; charset=utf-8"}
    )
    assert (res.status_code, res.content) == (200, b'{"result":{"data":{"got":[1]}}}')


def test_c7_post_without_content_type_is_415(http: httpx.Client) -> None:
    res = http.post("/mut", content=b'{"a":1}')
    assert res.status_code == 415
    assert res.content == error_body("Missing content-type header", "UNSUPPORTED_MEDIA_TYPE")


def test_c8_put_or_post_text_plain_is_415(http: httpx.Client) -> None:
    for method in ("PUT", "POST"):
        res = http.request(method, "/mut", content=b"x", headers={"content-type": "text/plain"})
        assert res.status_code == 415
        assert res.content == error_body(
            'Unsupported content-type "text/plain', "UNSUPPORTED_MEDIA_TYPE"
        )


def test_c9_get_on_mutation_is_405_with_allow_post(http: httpx.Client) -> None:
    res = http.get("/mut")
    assert res.status_code == 405
    assert res.headers["allow"] == "POST"
    assert res.content == error_body(
        'Unsupported GET-request to mutation procedure at path "mut"', "METHOD_NOT_SUPPORTED", "mut"
    )


def test_c10_post_on_query_without_override_is_405_with_allow_get(http: httpx.Client) -> None:
    res = http.post("/hello", content=b'"x"', headers={"content-type": "application/json"})
    assert res.status_code == 405
    assert res.headers["allow"] == "GET"
    assert_error(res.json(), "METHOD_NOT_SUPPORTED", "hello")


def test_c11_method_override_accepts_post_queries_single_and_batch(alt: httpx.Client) -> None:
    json_ct = {"content-type": "application/json"}
    res = alt.post("/hello", content=b'"x"', headers=json_ct)
    assert (res.status_code, res.content) == (200, b'{"result":{"data":{"hello":"x"}}}')
    res = alt.post("/hello,echo?batch=1", content=b'{"0":"a","1":{"b":2}}', headers=json_ct)
    assert res.status_code == 200
    assert res.json() == [
        {"result": {"data": {"hello": "a"}}},
        {"result": {"data": {"input": {"b": 2}}}},
    ]


def test_c12_method_override_never_allows_get_mutations(alt: httpx.Client) -> None:
    res = alt.get("/mut")
    assert res.status_code == 405
    assert res.headers["allow"] == "POST"
    assert_error(res.json(), "METHOD_NOT_SUPPORTED", "mut")


def test_c13_unknown_path_is_404(http: httpx.Client) -> None:
    res = http.get("/nope")
    assert res.status_code == 404
    assert res.content == error_body('No procedure found on path "nope"', "NOT_FOUND", "nope")


def test_c14_nested_router_path(http: httpx.Client) -> None:
    assert http.get("/nested.deep?input=%22d%22").json() == {"result": {"data": {"hello": "d"}}}


def test_c15_encoded_comma_is_a_batch_separator(http: httpx.Client) -> None:
    encoded = http.get("/hello%2Cundef?batch=1&input=%7B%7D")
    plain = http.get("/hello,undef?batch=1&input=%7B%7D")
    assert encoded.status_code == plain.status_code == 200
    assert encoded.content == plain.content == b'[{"result":{"data":{"hello":null}}},{"result":{}}]'


def test_c16_bad_path_escape_is_400_single_object(http: httpx.Client) -> None:
    res = http.get("/%E0%A4%A")
    assert res.status_code == 400
    assert res.content == error_body('Invalid URL-encoding in path "%E0%A4%A"', "BAD_REQUEST")


def test_c17_unparsable_input_is_400_with_path(http: httpx.Client) -> None:
    res = http.get("/hello?input=notjson")
    assert res.status_code == 400
    assert_error(res.json(), "BAD_REQUEST", "hello")
    # Parsing is lazy: a procedure without an input schema ignores it.
    assert http.get("/undef?input=notjson").content == b'{"result":{}}'


def test_c18_head_is_204_with_empty_body(http: httpx.Client) -> None:
    for path in ("/hello", "/nope", "/mut"):
        res = http.head(path)
        assert res.status_code == 204
        assert res.content == b""


def test_c19_plain_exception_is_500_internal_server_error(http: httpx.Client) -> None:
    res = http.get("/boom")
    assert res.status_code == 500
    assert res.content == error_body("INTERNAL_SERVER_ERROR", "INTERNAL_SERVER_ERROR", "boom")


def test_c20_c21_every_error_key_has_its_code_and_status(http: httpx.Client) -> None:
    for key, (_code, status) in ERROR_TABLE.items():
        res = http.get(f"/errorOf?input={enc(key)}")
        assert res.status_code == status, key
        assert res.content == error_body(f"error {key}", key, "errorOf")


def test_c22_formatter_http_status_418_sets_the_status(http: httpx.Client) -> None:
    res = http.get("/teapot")
    assert res.status_code == 418
    assert res.json()["error"]["data"] == {"code": "FORBIDDEN", "httpStatus": 418, "path": "teapot"}


def test_c23_extra_query_params_are_ignored(http: httpx.Client) -> None:
    res = http.get("/hello?tenant=1&input=%22t%22&x=y")
    assert res.content == b'{"result":{"data":{"hello":"t"}}}'


def test_c24_generator_on_non_stream_request_is_415(http: httpx.Client) -> None:
    res = http.get("/gen")
    assert res.status_code == 415
    assert res.content == error_body(
        "Cannot use stream-like response in non-streaming request - use httpBatchStreamLink",
        "UNSUPPORTED_MEDIA_TYPE",
        "gen",
    )


# -- batching ---------------------------------------------------------------------------


def test_c25_c26_batch_is_an_array_in_path_order(http: httpx.Client) -> None:
    res = http.get(f"/hello,echo?batch=1&input={enc({'0': 1, '1': 2})}")
    assert res.status_code == 207  # hello takes a string: item 0 fails validation, item 1 succeeds
    res = http.get(f"/echo,hello?batch=1&input={enc({'0': 1, '1': '2'})}")
    assert res.status_code == 200
    assert res.content == b'[{"result":{"data":{"input":1}}},{"result":{"data":{"hello":"2"}}}]'


def test_c27_success_and_unauthorized_is_207(http: httpx.Client) -> None:
    res = http.get("/hello,fail?batch=1&input=%7B%7D")
    assert res.status_code == 207
    ok, bad = res.json()
    assert ok == {"result": {"data": {"hello": None}}}
    assert_error(bad, "UNAUTHORIZED", "fail")


def test_c28_two_unauthorized_is_401(http: httpx.Client) -> None:
    res = http.get("/fail,fail?batch=1&input=%7B%7D")
    assert res.status_code == 401
    assert len(res.json()) == 2


def test_c29_c30_different_errors_and_unknown_paths_are_207(http: httpx.Client) -> None:
    res = http.get("/fail,nope?batch=1&input=%7B%7D")
    assert res.status_code == 207
    assert_error(res.json()[1], "NOT_FOUND", "nope")
    res = http.get("/hello,nope,hello?batch=1&input=%7B%7D")
    assert res.status_code == 207
    assert [("error" in item) for item in res.json()] == [False, True, False]


def test_c31_missing_batch_key_is_none(http: httpx.Client) -> None:
    res = http.get(f"/hello,hello?batch=1&input={enc({'1': 'z'})}")
    assert res.content == b'[{"result":{"data":{"hello":null}}},{"result":{"data":{"hello":"z"}}}]'


def test_c32_batch_input_not_an_object_fails_every_call(http: httpx.Client) -> None:
    res = http.get("/hello,echo?batch=1&input=5")
    assert res.status_code == 400
    items = res.json()
    assert len(items) == 2
    for item, path in zip(items, ("hello", "echo"), strict=True):
        shape = assert_error(item, "BAD_REQUEST", path)
        assert shape["message"] == '"input" needs to be an object when doing a batch call'


def test_c33_batch_post_mutations(http: httpx.Client) -> None:
    res = http.post(
        "/mut,mut?batch=1", content=b'{"0":{"a":1}}', headers={"content-type": "application/json"}
    )
    assert res.status_code == 200
    assert res.content == b'[{"result":{"data":{"got":{"a":1}}}},{"result":{"data":{"got":null}}}]'


def test_c34_mixed_procedure_types_is_400_single_object(http: httpx.Client) -> None:
    res = http.get("/hello,mut?batch=1&input=%7B%7D")
    assert res.status_code == 400
    assert res.content == error_body(
        "Cannot mix procedure types in call: query, mutation", "BAD_REQUEST"
    )


def test_c35_batching_disabled_is_400_single_object(servers: dict[str, Server]) -> None:
    res = httpx.get(f"{servers['nobatch'].trpc}/hello?batch=1&input=%7B%7D")
    assert res.status_code == 400
    assert res.content == error_body("Batching is not enabled on the server", "BAD_REQUEST")
    plain = httpx.get(f"{servers['nobatch'].trpc}/hello?input=%22x%22")
    assert plain.content == b'{"result":{"data":{"hello":"x"}}}'


def test_c36_batch_size_cap_is_400_single_object(http: httpx.Client, alt: httpx.Client) -> None:
    res = alt.get("/hello,hello,hello?batch=1&input=%7B%7D")
    assert res.status_code == 400
    assert res.content == error_body("Batch call exceeds maximum size", "BAD_REQUEST")
    assert alt.get("/hello,hello?batch=1&input=%7B%7D").status_code == 200
    # The default cap (MAX_BATCH_SIZE=50) also stops a ",,,," flood cheaply.
    assert http.get("/" + ",".join(["hello"] * 51) + "?batch=1&input=%7B%7D").status_code == 400
    assert http.get("/" + "," * 5000 + "?batch=1").status_code == 400
    assert http.get("/" + ",".join(["hello"] * 50) + "?batch=1&input=%7B%7D").status_code == 200


def test_c37_batch_of_one_is_an_array(http: httpx.Client) -> None:
    res = http.get(f"/hello?batch=1&input={enc({'0': 'a'})}")
    assert res.content == b'[{"result":{"data":{"hello":"a"}}}]'


def test_c38_failing_create_context_fails_every_call_with_its_path(http: httpx.Client) -> None:
    res = http.get("/hello,nested.deep?batch=1&input=%7B%7D", headers={"x-token": "bad"})
    assert res.status_code == 401
    first, second = res.json()
    assert_error(first, "UNAUTHORIZED", "hello")
    assert_error(second, "UNAUTHORIZED", "nested.deep")


def test_c39_one_context_per_batch_and_batch_indexes(http: httpx.Client) -> None:
    items = http.get("/ctxInfo,ctxInfo,ctxInfo?batch=1&input=%7B%7D").json()
    infos = [item["result"]["data"] for item in items]
    assert [i["batchIndex"] for i in infos] == [0, 1, 2]
    assert len({i["contextId"] for i in infos}) == 1


def test_c40_subscription_in_a_batch_is_bad_request(http: httpx.Client) -> None:
    res = http.get("/ticks?batch=1&input=%7B%7D")
    assert res.status_code == 400
    (item,) = res.json()
    assert (
        assert_error(item, "BAD_REQUEST", "ticks")["message"] == "Cannot batch subscription calls"
    )


def test_body_over_one_mib_is_413(http: httpx.Client) -> None:
    body = b'"' + b"x" * (1024 * 1024) + b'"'
    res = http.post("/mut", content=body, headers={"content-type": "application/json"})
    assert res.status_code == 413
    assert res.content == error_body("Request body exceeds 1048576 bytes", "PAYLOAD_TOO_LARGE")


def test_c66_connection_params_query_is_validated_on_every_json_request(
    http: httpx.Client,
) -> None:
    for path in ("/hello", "/ticks"):
        res = http.get(f"{path}?connectionParams=notjson")
        assert res.status_code == 400
        assert res.headers["content-type"] == "application/json"
        assert res.content == error_body("Not JSON-parsable query params", "PARSE_ERROR")
        for bad in ({"a": 1}, [1], "s"):
            res = http.get(f"{path}?connectionParams={enc(bad)}")
            assert res.status_code == 400
            assert res.content == error_body("Invalid connection params shape", "PARSE_ERROR")
    res = http.get(f"/ctxInfo?connectionParams={enc({'token': 'p', 'x': None})}")
    assert res.json()["result"]["data"]["params"] == {"token": "p", "x": None}


# -- JSONL ------------------------------------------------------------------------------

JSONL = {"trpc-accept": "application/jsonl"}

REFERENCE_ERROR_LINE = (
    b'[2,0,[[{"error":{"message":"nope","code":-32001,'
    b'"data":{"code":"UNAUTHORIZED","httpStatus":401,"path":"fail"}}}]]]'
)


def _chains(lines: list[bytes], count: int) -> dict[int, list[bytes]]:
    """Follow each call's promise chain (call → result → data) through the chunk lines."""
    by_id = {json.loads(line)[0]: line for line in lines}
    assert len(by_id) == len(lines), "a chunk id appears twice"
    chains: dict[int, list[bytes]] = {}
    for index in range(count):
        chain, chunk = [], index
        while chunk in by_id:
            line = by_id[chunk]
            chain.append(line)
            payload = json.loads(line)[2]
            chunk = payload[1][2] if len(payload) > 1 else None
        chains[index] = chain
    return chains


def test_c41_c43_c45_c49_jsonl_matches_the_reference_example(http: httpx.Client) -> None:
    res = http.get(f"/slow,hello,fail,undef?batch=1&input={enc({'1': 'z'})}", headers=JSONL)
    assert res.status_code == 200
    assert res.headers["content-type"] == "application/json"
    assert res.headers["transfer-encoding"] == "chunked"
    assert res.content.endswith(b"\n")
    lines = res.content.split(b"\n")[:-1]
    assert lines[0] == (
        b'{"0":[[0],[null,0,0]],"1":[[0],[null,0,1]],"2":[[0],[null,0,2]],"3":[[0],[null,0,3]]}'
    )
    assert len(lines) == 11
    assert REFERENCE_ERROR_LINE in lines
    chains = _chains(lines[1:], 4)
    assert chains[2] == [REFERENCE_ERROR_LINE]
    values = {0: b'"slow"', 1: b'{"hello":"z"}', 3: None}
    allocated = []
    for index in (0, 1, 3):
        head, result, data = chains[index]
        a, b = json.loads(head)[2][1][2], json.loads(result)[2][1][2]
        allocated += [a, b]
        assert head == f'[{index},0,[[{{"result":0}}],["result",0,{a}]]]'.encode()
        assert result == f'[{a},0,[[{{"data":0}}],["data",0,{b}]]]'.encode()
        value = values[index]
        assert data == (
            f"[{b},0,[[]]]".encode() if value is None else b"[%d,0,[[%s]]]" % (b, value)
        )
    assert sorted(allocated) == list(range(4, 10)), "chunk ids are allocated from n upwards"
    assert lines[-1] == chains[0][2] == b'[9,0,[["slow"]]]', "the slow call settles last"


def test_c42_accept_list_streams_and_no_header_is_plain_json(http: httpx.Client) -> None:
    streamed = http.get(
        "/hello?batch=1&input=%7B%7D", headers={"accept": "text/html, application/jsonl"}
    )
    assert streamed.content.startswith(b'{"0":[[0],[null,0,0]]}\n')
    # trpc-accept, when present, decides alone.
    other = http.get(
        "/hello?batch=1&input=%7B%7D",
        headers={"accept": "application/jsonl", "trpc-accept": "application/json"},
    )
    assert other.content == b'[{"result":{"data":{"hello":null}}}]'
    assert (
        http.get("/hello?batch=1&input=%7B%7D").content == b'[{"result":{"data":{"hello":null}}}]'
    )


def test_c44_fast_call_is_flushed_before_the_slow_one_completes(main_server: Server) -> None:
    with httpx.Client(timeout=5) as client:
        start = time.monotonic()
        with client.stream(
            "GET", f"{main_server.trpc}/slow,hello?batch=1&input=%7B%7D", headers=JSONL
        ) as res:
            first_value_at = None
            for line in res.iter_lines():
                if b'{"hello":null}'.decode() in line and first_value_at is None:
                    first_value_at = time.monotonic() - start
            total = time.monotonic() - start
    assert first_value_at is not None and first_value_at < 0.2, first_value_at
    assert total >= 0.29


def test_c46_all_calls_failing_still_streams_200(http: httpx.Client) -> None:
    res = http.get("/fail,nope?batch=1&input=%7B%7D", headers=JSONL)
    assert res.status_code == 200
    lines = res.content.split(b"\n")[:-1]
    assert len(lines) == 3
    assert json.loads(lines[2])[2][0][0]["error"]["data"]["code"] in {"UNAUTHORIZED", "NOT_FOUND"}


def test_c47_streaming_without_batch_is_400_json(http: httpx.Client) -> None:
    res = http.get("/hello", headers=JSONL)
    assert res.status_code == 400
    assert res.content == error_body(
        "Streaming requests must be batched (you can do a batch of 1)", "BAD_REQUEST"
    )


def test_c48_top_level_failure_while_streaming_is_a_json_error(http: httpx.Client) -> None:
    res = http.get("/hello,mut?batch=1&input=%7B%7D", headers=JSONL)
    assert res.status_code == 400
    assert res.headers["content-type"] == "application/json"
    assert res.content == error_body(
        "Cannot mix procedure types in call: query, mutation", "BAD_REQUEST"
    )


def test_c50_generator_query_streams_iterable_chunks(http: httpx.Client) -> None:
    res = http.get("/gen?batch=1&input=%7B%7D", headers=JSONL)
    assert res.content == (
        b'{"0":[[0],[null,0,0]]}\n'
        b'[0,0,[[{"result":0}],["result",0,1]]]\n'
        b'[1,0,[[{"data":0}],["data",0,2]]]\n'
        b"[2,0,[[0],[null,1,3]]]\n"
        b"[3,1,[[0]]]\n[3,1,[[1]]]\n[3,1,[[2]]]\n[3,0,[[]]]\n"
    )


def test_c51_generator_error_is_a_status_2_chunk(http: httpx.Client) -> None:
    res = http.get("/genFail?batch=1&input=%7B%7D", headers=JSONL)
    lines = res.content.split(b"\n")[:-1]
    assert lines[3] == b"[2,0,[[0],[null,1,3]]]"
    assert lines[4] == b"[3,1,[[1]]]"
    assert lines[5] == (
        b'[3,2,{"message":"stream forbidden","code":-32003,'
        b'"data":{"code":"FORBIDDEN","httpStatus":403,"path":"genFail"}}]'
    )
    assert len(lines) == 6


def test_c52_client_abort_cancels_the_running_call(main_server: Server, http: httpx.Client) -> None:
    name = tag("jsonl-abort")
    with (
        httpx.Client(timeout=5) as client,
        client.stream(
            "GET", f"{main_server.trpc}/hang,hello?batch=1&input={enc({'0': name})}", headers=JSONL
        ) as res,
    ):
        lines = res.iter_lines()
        assert next(lines).startswith("{")
        wait_for_event(http, name, "started")
    wait_for_event(http, name, "cancelled", timeout=1.0)


def test_c53_keepalive_spaces_between_lines(alt: httpx.Client) -> None:
    res = alt.get(f"/sleep?batch=1&input={enc({'0': 300})}", headers=JSONL)
    body = res.content
    head, _, rest = body.partition(b"\n")
    assert head == b'{"0":[[0],[null,0,0]]}'
    assert rest.startswith(b"   "), rest[:40]
    assert rest.lstrip(b" ").startswith(b'[0,0,[[{"result":0}]')


# -- SSE --------------------------------------------------------------------------------

SSE_ACCEPT = {"accept": "text/event-stream"}
CONNECTED_MAIN = b'event: connected\ndata: {"reconnectAfterInactivityMs":5000}\n\n\n'


def sse(
    base: str, path: str, headers: dict[str, str] | None = None, timeout: float = 5
) -> tuple[httpx.Response, bytes]:
    """A finished SSE response and its whole body."""
    res = httpx.get(f"{base}{path}", headers={**SSE_ACCEPT, **(headers or {})}, timeout=timeout)
    return res, res.content


PING_EVENT = b"event: ping\ndata: \n\n\n"


def without_pings(body: bytes) -> bytes:
    """Drop ping events (see test_sse_max_duration_without_ping_option_sends_no_pings)."""
    return body.replace(PING_EVENT, b"")


def data_events(body: bytes) -> list[dict[str, str]]:
    """Parse events (fields event/data/id; blank-line separated; empty blocks dropped)."""
    out = []
    for block in body.split(b"\n\n"):
        if not block.strip(b"\n"):
            continue
        fields: dict[str, str] = {}
        for line in block.strip(b"\n").split(b"\n"):
            name, _, value = line.decode().partition(": ")
            fields[name] = value
        out.append(fields)
    return out


def test_c54_c55_c57_c58_sse_headers_and_exact_event_bytes(main_server: Server) -> None:
    res, body = sse(main_server.trpc, f"/ticks?input={enc({'count': 2, 'delayMs': 1})}")
    assert res.status_code == 200
    assert res.headers["content-type"] == "text/event-stream"
    assert res.headers["cache-control"] == "no-cache, no-transform"
    assert res.headers["x-accel-buffering"] == "no"
    assert res.headers["connection"] == "keep-alive"
    assert res.headers["vary"].startswith("trpc-accept, accept")
    assert body == (
        CONNECTED_MAIN
        + b'data: {"n":1}\nid: 1\n\n\n'
        + b'data: {"n":2}\nid: 2\n\n\n'
        + b"event: return\ndata: \n\n\n"
    )


def test_c55_connected_payload_is_empty_object_without_client_options(
    servers: dict[str, Server],
) -> None:
    _, body = sse(servers["alt"].trpc, "/plain?input=0")
    assert body == b"event: connected\ndata: {}\n\n\nevent: return\ndata: \n\n\n"


def test_c56_untracked_values_have_no_id(main_server: Server) -> None:
    _, body = sse(main_server.trpc, "/plain")
    assert body == (
        CONNECTED_MAIN
        + b'data: {"plain":0}\n\n\ndata: {"plain":1}\n\n\nevent: return\ndata: \n\n\n'
    )


def test_c59_error_during_iteration_is_serialized_error(main_server: Server) -> None:
    _, body = sse(main_server.trpc, "/subFail")
    assert body == (
        CONNECTED_MAIN
        + b'data: "before"\n\n\n'
        + b'event: serialized-error\ndata: {"message":"not for you","code":-32003,'
        + b'"data":{"code":"FORBIDDEN","httpStatus":403,"path":"subFail"}}\n\n\n'
    )


def test_c60_create_context_failure_is_200_connected_then_serialized_error(
    main_server: Server,
) -> None:
    res, body = sse(main_server.trpc, f"/whoSub?connectionParams={enc({'token': 'bad'})}")
    assert res.status_code == 200
    assert body == (
        CONNECTED_MAIN
        + b'event: serialized-error\ndata: {"message":"bad token","code":-32001,'
        + b'"data":{"code":"UNAUTHORIZED","httpStatus":401,"path":"whoSub"}}\n\n\n'
    )


def test_c61_internal_error_is_a_retryable_serialized_error(main_server: Server) -> None:
    _, body = sse(main_server.trpc, f"/flaky?input={enc(tag('flaky'))}")
    (connected, error) = data_events(body)
    assert connected["event"] == "connected"
    assert error["event"] == "serialized-error"
    assert json.loads(error["data"])["code"] == -32603


def test_c62_last_event_id_header_merges_into_object_input(main_server: Server) -> None:
    _, body = sse(main_server.trpc, f"/echoSub?input={enc({'x': 1})}", {"last-event-id": "2"})
    first = data_events(body)[1]
    assert json.loads(first["data"])["input"] == {"x": 1, "lastEventId": "2"}


def test_c63_query_last_event_id_overrides_input_and_header_beats_query(
    main_server: Server,
) -> None:
    path = f"/echoSub?input={enc({'lastEventId': '1'})}&lastEventId=2"
    _, body = sse(main_server.trpc, path)
    assert json.loads(data_events(body)[1]["data"])["input"] == {"lastEventId": "2"}
    _, body = sse(main_server.trpc, path, {"last-event-id": "3"})
    assert json.loads(data_events(body)[1]["data"])["input"] == {"lastEventId": "3"}
    _, body = sse(main_server.trpc, "/echoSub?Last-Event-Id=4")
    assert json.loads(data_events(body)[1]["data"])["input"] == {"lastEventId": "4"}


def test_c64_last_event_id_without_input_and_with_primitive_input(main_server: Server) -> None:
    _, body = sse(main_server.trpc, "/echoSub", {"last-event-id": "7"})
    assert json.loads(data_events(body)[1]["data"])["input"] == {"lastEventId": "7"}
    _, body = sse(main_server.trpc, "/echoSub?input=5", {"last-event-id": "7"})
    assert json.loads(data_events(body)[1]["data"])["input"] == 5
    # The received id is the "known id": an untracked value blanks it and restores it.
    assert body.endswith(
        b"\nid: \n\n\nevent: restore-id\ndata: \nid: 7\n\n\nevent: return\ndata: \n\n\n"
    )


def test_c65_c68_idle_stream_pings_and_is_cancelled_on_disconnect(
    main_server: Server, http: httpx.Client
) -> None:
    name = tag("sse-idle")
    chunks: list[tuple[float, bytes]] = []
    with httpx.Client(timeout=5) as client:
        start = time.monotonic()
        with client.stream(
            "GET", f"{main_server.trpc}/idle?input={enc(name)}", headers=SSE_ACCEPT
        ) as res:
            for chunk in res.iter_raw():
                chunks.append((time.monotonic() - start, chunk))
                if sum(c.count(b"event: ping") for _, c in chunks) >= 3:
                    break
    body = b"".join(c for _, c in chunks)
    assert body.startswith(CONNECTED_MAIN)
    assert body[len(CONNECTED_MAIN) :] == b"event: ping\ndata: \n\n\n" * 3
    elapsed = chunks[-1][0]
    assert 0.8 <= elapsed <= 1.5, elapsed
    wait_for_event(http, name, "cancelled", timeout=1.0)


def test_c66_connection_params_reach_create_context(main_server: Server) -> None:
    _, body = sse(main_server.trpc, f"/whoSub?connectionParams={enc({'token': 't'})}")
    assert json.loads(data_events(body)[1]["data"]) == {
        "token": "t",
        "params": {"token": "t"},
        "transport": "sse",
    }


def test_c67_unknown_or_non_subscription_path_is_json_not_event_stream(main_server: Server) -> None:
    res, body = sse(main_server.trpc, "/nope")
    assert res.status_code == 404
    assert res.headers["content-type"] == "application/json"
    assert body == error_body('No procedure found on path "nope"', "NOT_FOUND", "nope")
    res, body = sse(main_server.trpc, "/mut")
    assert res.status_code == 405
    res, body = sse(main_server.trpc, "/hello?input=%22q%22")
    assert body == b'{"result":{"data":{"hello":"q"}}}'


def test_c69_max_duration_ends_an_idle_stream_without_return(
    servers: dict[str, Server],
) -> None:
    name = tag("sse-maxdur")
    start = time.monotonic()
    _, body = sse(servers["alt"].trpc, f"/idle?input={enc(name)}")
    elapsed = time.monotonic() - start
    assert without_pings(body) == b"event: connected\ndata: {}\n\n\n"
    assert 0.7 <= elapsed <= 1.5, elapsed


def test_sse_max_duration_without_ping_option_sends_no_pings(servers: dict[str, Server]) -> None:
    async def one(client: httpx.AsyncClient, i: int) -> bytes:
        res = await client.get(
            f"{servers['alt'].trpc}/idle?input={enc(tag('burst'))}", headers=SSE_ACCEPT
        )
        return res.content

    async def many() -> list[bytes]:
        async with httpx.AsyncClient(timeout=5) as client:
            return await asyncio.gather(*(one(client, i) for i in range(40)))

    bodies = asyncio.run(many())
    assert [b.count(PING_EVENT) for b in bodies] == [0] * 40


def test_c70_untracked_after_tracked_blanks_then_restores_the_id(
    servers: dict[str, Server],
) -> None:
    _, body = sse(servers["alt"].trpc, f"/mixed?input={enc(tag('mixed'))}")
    assert without_pings(body) == (
        b"event: connected\ndata: {}\n\n\n"
        b'data: "tracked"\nid: 3\n\n\n'
        b'data: "untracked"\nid: \n\n\n'
        b"event: restore-id\ndata: \nid: 3\n\n\n"
    )


# -- WebSocket --------------------------------------------------------------------------


@pytest.fixture
async def ws(main_server: Server) -> Any:
    sock = await RawSocket.connect(main_server.ws)
    yield sock
    sock.close()


def q(
    rid: Any, path: str, input: Any = None, method: str = "query", **extra: Any
) -> dict[str, Any]:
    params: dict[str, Any] = {"path": path}
    if input is not None:
        params["input"] = input
    return {"id": rid, "method": method, "params": params, **extra}


async def test_c71_query_result_frame(ws: RawSocket) -> None:
    ws.send(q(1, "hello", "x"))
    assert await ws.recv() == '{"id":1,"result":{"type":"data","data":{"hello":"x"}}}'


async def test_c72_string_id_and_jsonrpc_are_echoed_only_when_sent(ws: RawSocket) -> None:
    ws.send(
        {"id": "abc", "jsonrpc": "2.0", "method": "mutation", "params": {"path": "mut", "input": 1}}
    )
    assert (
        await ws.recv() == '{"id":"abc","jsonrpc":"2.0","result":{"type":"data","data":{"got":1}}}'
    )
    ws.send(q("abc", "mut", 2, method="mutation"))
    assert await ws.recv() == '{"id":"abc","result":{"type":"data","data":{"got":2}}}'


async def test_c73_undefined_result_has_no_data_key(ws: RawSocket) -> None:
    ws.send(q(6, "undef"))
    assert await ws.recv() == '{"id":6,"result":{"type":"data"}}'


async def test_c74_wrong_method_and_unknown_path_are_not_found_with_path(ws: RawSocket) -> None:
    ws.send(q(1, "mut"))
    reply = await ws.recv_json()
    assert reply["id"] == 1
    assert (
        assert_error(reply, "NOT_FOUND", "mut")["message"] == 'No "query"-procedure on path "mut"'
    )
    ws.send(q(2, "nope", method="subscription"))
    reply = await ws.recv_json()
    assert (
        assert_error(reply, "NOT_FOUND", "nope")["message"]
        == 'No "subscription"-procedure on path "nope"'
    )


async def test_c75_array_frame_answers_in_completion_order(ws: RawSocket) -> None:
    ws.send([q(1, "slow"), q(2, "hello", "f")])
    assert (await ws.recv_json())["id"] == 2
    assert await ws.recv() == '{"id":1,"result":{"type":"data","data":"slow"}}'


def _parse_error(message: str) -> dict[str, Any]:
    return {
        "id": None,
        "error": {
            "message": message,
            "code": -32700,
            "data": {"code": "PARSE_ERROR", "httpStatus": 400},
        },
    }


async def test_c76_invalid_json_is_id_null_parse_error_and_socket_stays_open(ws: RawSocket) -> None:
    ws.send("not json")
    reply = await ws.recv_json()
    assert reply["id"] is None
    assert_error(reply, "PARSE_ERROR")
    ws.send(q(1, "hello", "still"))
    assert (await ws.recv_json())["result"]["data"] == {"hello": "still"}


async def test_c77_null_id_bad_method_bad_jsonrpc_are_parse_errors(ws: RawSocket) -> None:
    cases = [
        ({"id": None, "method": "query", "params": {"path": "hello"}}, "`id` is required"),
        ({"id": 1, "method": "bogus", "params": {"path": "hello"}}, "Invalid procedure type"),
        (
            {"id": 1, "jsonrpc": "1.0", "method": "query", "params": {"path": "hello"}},
            "Must be JSONRPC 2.0",
        ),
        ({"id": 1, "method": "query"}, "Not an object"),
        ({"id": 1, "method": "query", "params": {"path": 5}}, "Invalid string"),
        ({"id": True, "method": "query", "params": {"path": "hello"}}, "Invalid request id"),
        (5, "Not an object"),
    ]
    for message, expected in cases:
        ws.send(message)
        assert await ws.recv_json() == _parse_error(expected), message
    ws.send(q(1, "hello", "ok"))
    assert (await ws.recv_json())["id"] == 1


async def test_c78_array_with_one_bad_member_executes_nothing(
    ws: RawSocket, http: httpx.Client
) -> None:
    name = tag("ws-array")
    ws.send([q(1, "hang", name), {"id": 2, "method": "bogus"}, q(3, "hello", "x")])
    assert (await ws.recv_json())["id"] is None
    await ws.nothing(0.3)
    assert events(http, name) == []


async def test_c79_binary_frame_is_id_null_parse_error(ws: RawSocket) -> None:
    ws.send_binary(b'{"id":1,"method":"query","params":{"path":"hello"}}')
    reply = await ws.recv_json()
    assert reply["id"] is None
    assert_error(reply, "PARSE_ERROR")
    ws.send(q(1, "hello"))
    assert (await ws.recv_json())["id"] == 1


async def test_c80_ping_gets_one_pong_each_in_order_and_pong_gets_nothing(
    main_server: Server,
) -> None:
    sock = await RawSocket.connect(main_server.ws)
    try:
        sock.send_together("PING", q(1, "hello"), "PING", "PONG", "PING")
        frames = [await sock.recv() for _ in range(4)]
        # PONGs are written at once; the query result follows when its task finishes.
        assert frames.count("PONG") == 3
        assert [json.loads(f)["id"] for f in frames if f != "PONG"] == [1]
        await sock.nothing(0.2)
    finally:
        sock.close()


async def test_c81_c82_subscription_started_tracked_data_stopped(ws: RawSocket) -> None:
    ws.send(q(1, "ticks", {"count": 2, "delayMs": 1}, method="subscription"))
    assert [await ws.recv() for _ in range(4)] == [
        '{"id":1,"result":{"type":"started"}}',
        '{"id":1,"result":{"type":"data","data":{"id":"1","data":{"n":1}},"id":"1"}}',
        '{"id":1,"result":{"type":"data","data":{"id":"2","data":{"n":2}},"id":"2"}}',
        '{"id":1,"result":{"type":"stopped"}}',
    ]
    ws.send(q(2, "plain", 1, method="subscription"))
    assert [await ws.recv() for _ in range(3)] == [
        '{"id":2,"result":{"type":"started"}}',
        '{"id":2,"result":{"type":"data","data":{"plain":0}}}',
        '{"id":2,"result":{"type":"stopped"}}',
    ]


async def test_c83_last_event_id_param_resumes(ws: RawSocket) -> None:
    request = q(1, "ticks", {"count": 3, "delayMs": 1}, method="subscription")
    request["params"]["lastEventId"] = "2"
    ws.send(request)
    assert (await ws.recv_json())["result"]["type"] == "started"
    assert (await ws.recv_json())["result"]["id"] == "3"
    assert (await ws.recv_json())["result"]["type"] == "stopped"
    ws.send({"id": 2, "method": "subscription", "params": {"path": "echoSub", "lastEventId": "9"}})
    await ws.recv()
    assert (await ws.recv_json())["result"]["data"]["input"] == {"lastEventId": "9"}


async def test_c84_c99_stop_cancels_then_stopped_and_repeated_stops_are_ignored(
    ws: RawSocket, http: httpx.Client
) -> None:
    name = tag("ws-stop")
    ws.send(q(1, "idle", name, method="subscription"))
    assert await ws.recv() == '{"id":1,"result":{"type":"started"}}'
    ws.send({"id": 1, "method": "subscription.stop"})
    assert await ws.recv() == '{"id":1,"result":{"type":"stopped"}}'
    await await_event(http, name, "cancelled")
    ws.send({"id": 1, "method": "subscription.stop"})
    ws.send({"id": 99, "method": "subscription.stop"})
    await ws.nothing(0.3)


async def test_c85_stop_then_ping_gets_pong_and_no_more_data(ws: RawSocket) -> None:
    ws.send(q(1, "ticks", {"count": -1, "delayMs": 5}, method="subscription"))
    assert (await ws.recv_json())["result"]["type"] == "started"
    assert (await ws.recv_json())["result"]["type"] == "data"
    ws.send_together({"id": 1, "method": "subscription.stop"}, "PING")
    after_stop: list[Any] = []
    while True:
        frame = await ws.recv()
        if frame == "PONG":
            break
        after_stop.append(json.loads(frame))
    # Data frames already written before the stop was read may precede `stopped`.
    kinds = [f["result"]["type"] for f in after_stop]
    assert "stopped" in kinds or not kinds
    if "stopped" in kinds:
        assert kinds[kinds.index("stopped") + 1 :] == []
    else:
        assert await ws.recv() == '{"id":1,"result":{"type":"stopped"}}'
    await ws.nothing(0.2)


async def test_c86_iteration_error_is_error_frame_then_stopped(ws: RawSocket) -> None:
    ws.send(q(1, "subFail", method="subscription"))
    assert [await ws.recv() for _ in range(4)] == [
        '{"id":1,"result":{"type":"started"}}',
        '{"id":1,"result":{"type":"data","data":"before"}}',
        '{"id":1,"error":{"message":"not for you","code":-32003,'
        '"data":{"code":"FORBIDDEN","httpStatus":403,"path":"subFail"}}}',
        '{"id":1,"result":{"type":"stopped"}}',
    ]


async def test_c87_error_before_iteration_is_a_single_error_frame(ws: RawSocket) -> None:
    ws.send(q(1, "subReject", method="subscription"))
    assert await ws.recv() == (
        '{"id":1,"error":{"message":"rejected before iteration","code":-32600,'
        '"data":{"code":"BAD_REQUEST","httpStatus":400,"path":"subReject"}}}'
    )
    await ws.nothing(0.2)


async def test_c88_duplicate_active_subscription_id_is_bad_request(ws: RawSocket) -> None:
    ws.send(q(1, "ticks", {"count": 3, "delayMs": 100}, method="subscription"))
    assert (await ws.recv_json())["result"]["type"] == "started"
    ws.send(q(1, "plain", method="subscription"))
    reply = await ws.recv_json()
    assert assert_error(reply, "BAD_REQUEST", "plain")["message"] == "Duplicate id 1"
    ids = []
    while (frame := await ws.recv_json())["result"]["type"] != "stopped":
        ids.append(frame["result"]["id"])
    assert ids == ["1", "2", "3"]
    ws.send(q(1, "plain", 1, method="subscription"))
    assert (await ws.recv_json())["result"]["type"] == "started"


async def test_c89_query_returning_a_generator_is_415(ws: RawSocket) -> None:
    ws.send(q(1, "gen"))
    reply = await ws.recv_json()
    assert assert_error(reply, "UNSUPPORTED_MEDIA_TYPE", "gen")["message"] == (
        "Cannot return an async iterable or observable from a query procedure with WebSockets"
    )


async def test_c90_connection_params_message_reaches_create_context(main_server: Server) -> None:
    for data, params in (({"token": "good"}, {"token": "good"}), (None, None)):
        sock = await RawSocket.connect(f"{main_server.ws}/?connectionParams=1")
        try:
            sock.send({"method": "connectionParams", "data": data})
            sock.send(q(1, "ctxInfo"))
            info = (await sock.recv_json())["result"]["data"]
            assert info["params"] == params
            assert info["token"] == (data or {}).get("token")
        finally:
            sock.close()


async def test_c91_request_instead_of_connection_params_is_parse_error_then_close(
    main_server: Server,
) -> None:
    sock = await RawSocket.connect(f"{main_server.ws}/?connectionParams=1")
    sock.send(q(1, "hello"))
    reply = await sock.recv_json()
    assert reply["id"] is None
    assert_error(reply, "PARSE_ERROR")
    await sock.closed()
    bad = await RawSocket.connect(f"{main_server.ws}/?connectionParams=1")
    bad.send({"method": "connectionParams", "data": {"a": 1}})
    assert (await bad.recv_json())["error"]["message"] == "Invalid connection params shape"
    await bad.closed()


async def test_c92_failing_create_context_answers_queued_requests_then_closes(
    main_server: Server,
) -> None:
    sock = await RawSocket.connect(f"{main_server.ws}/?connectionParams=1")
    sock.send_together({"method": "connectionParams", "data": {"token": "bad"}}, q(1, "hello"))
    assert await sock.recv() == (
        '{"id":null,"error":{"message":"bad token","code":-32001,'
        '"data":{"code":"UNAUTHORIZED","httpStatus":401}}}'
    )
    assert await sock.recv() == (
        '{"id":1,"error":{"message":"bad token","code":-32001,'
        '"data":{"code":"UNAUTHORIZED","httpStatus":401,"path":"hello"}}}'
    )
    await sock.closed()


async def test_c93_requests_sent_during_a_slow_create_context_are_answered(
    main_server: Server,
) -> None:
    sock = await RawSocket.connect(f"{main_server.ws}/?connectionParams=1")
    try:
        sock.send({"method": "connectionParams", "data": {"token": "slow"}})
        sock.send(q(1, "hello", "a"))
        sock.send([q(2, "hello", "b"), q(3, "mut", 3, method="mutation")])
        ids = sorted([(await sock.recv_json(1))["id"] for _ in range(3)])
        assert ids == [1, 2, 3]
    finally:
        sock.close()


async def test_c94_reconnect_notification_exact_frame(ws: RawSocket) -> None:
    ws.send(q(1, "ws.reconnectMe", method="mutation"))
    assert await ws.recv() == '{"id":1,"result":{"type":"data","data":1}}'
    assert await ws.recv() == '{"id":null,"method":"reconnect"}'
    ws.send(q(2, "hello", "still served"))
    assert (await ws.recv_json())["id"] == 2


async def test_c96_server_pings_idle_socket_and_terminates_without_pong(
    main_server: Server,
) -> None:
    silent = await RawSocket.connect(main_server.ws, auto_pong=False, keep_pings=True)
    polite = await RawSocket.connect(main_server.ws)
    start = time.monotonic()
    assert await silent.recv(3) == "PING"
    pinged = time.monotonic() - start
    assert 0.8 <= pinged <= 1.6, pinged
    await silent.closed(2)
    closed = time.monotonic() - start
    assert closed - pinged <= 1.0
    await asyncio.sleep(max(0.0, 2.5 - closed))
    assert polite.pings >= 1 and not polite.disconnected.is_set()
    polite.send(q(1, "hello"))
    assert (await polite.recv_json())["id"] == 1
    polite.close()


async def test_c98_socket_close_cancels_subscriptions(
    main_server: Server, http: httpx.Client
) -> None:
    sock = await RawSocket.connect(main_server.ws)
    name = tag("ws-close")
    sock.send(q(1, "idle", name, method="subscription"))
    assert (await sock.recv_json())["result"]["type"] == "started"
    assert sock.transport is not None
    sock.transport.disconnect(graceful=False)
    await await_event(http, name, "cancelled", within=1.0)


async def test_ws_array_over_max_batch_size_is_bad_request_per_id(ws: RawSocket) -> None:
    ws.send([q(i, "hello") for i in range(51)])
    replies = [await ws.recv_json() for _ in range(51)]
    assert sorted(r["id"] for r in replies) == list(range(51))
    assert all(r["error"]["message"] == "Batch call exceeds maximum size" for r in replies)


async def test_ws_message_over_one_mib_closes_with_1009(main_server: Server) -> None:
    sock = await RawSocket.connect(main_server.ws)
    sock.send('"' + "x" * (1024 * 1024 + 10) + '"')
    assert await sock.closed() == 1009


async def test_ws_client_close_is_answered_with_a_valid_close_frame(main_server: Server) -> None:
    # A close frame without a status code (what the `ws` package sends for a bare
    # `close()`, as @trpc/client 11.0.0 does) must not be answered with code 0: clients
    # take that as a protocol error and drop the socket as 1006 with an error event.
    for payload, expected in ((b"", 1000), ((4000).to_bytes(2, "big") + b"bye", 4000)):
        sock = await RawSocket.connect(main_server.ws)
        assert sock.transport is not None
        sock.transport.underlying_transport.write(masked_frame(payload, opcode=0x8))
        assert await sock.closed() == expected


async def test_ws_slow_reader_is_disconnected_and_others_are_unaffected(
    main_server: Server, http: httpx.Client
) -> None:
    name = tag("flood")
    slow = await RawSocket.connect(main_server.ws)
    other = await RawSocket.connect(main_server.ws)
    try:
        slow.pause()
        slow.send(q(1, "flood", {"tag": name}, method="subscription"))
        for i in range(5):
            t0 = time.monotonic()
            other.send(q(i, "hello", "alive"))
            assert (await other.recv_json())["id"] == i
            assert time.monotonic() - t0 < 0.5
            await asyncio.sleep(0.05)
        deadline = time.monotonic() + 1.5
        while not events(http, name):
            assert time.monotonic() < deadline, "the flooding subscription was never stopped"
            await asyncio.sleep(0.02)
        (stopped,) = events(http, name)
        # Stopped by the 8 MiB unsent-bytes bound, well before keep-alive (1 s) could.
        assert stopped["seconds"] < 0.9, stopped
        assert stopped["sent"] < 400
        slow.resume()
        await slow.closed(3)
    finally:
        slow.close()
        other.close()
