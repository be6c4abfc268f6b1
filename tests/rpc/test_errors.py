"""ErrorCode table, RPCError and to_rpc_error (tRPC v11's error codes, COVERAGE.md item 20)."""

from __future__ import annotations

import pytest

from wirechat.rpc.errors import ErrorCode, RPCError, error_code_for_status, to_rpc_error

# tRPC v11's code table, written out independently: key, JSON-RPC code, HTTP status.
SPEC_TABLE = [
    ("PARSE_ERROR", -32700, 400),
    ("BAD_REQUEST", -32600, 400),
    ("INTERNAL_SERVER_ERROR", -32603, 500),
    ("NOT_IMPLEMENTED", -32603, 501),
    ("BAD_GATEWAY", -32603, 502),
    ("SERVICE_UNAVAILABLE", -32603, 503),
    ("GATEWAY_TIMEOUT", -32603, 504),
    ("UNAUTHORIZED", -32001, 401),
    ("PAYMENT_REQUIRED", -32002, 402),
    ("FORBIDDEN", -32003, 403),
    ("NOT_FOUND", -32004, 404),
    ("METHOD_NOT_SUPPORTED", -32005, 405),
    ("TIMEOUT", -32008, 408),
    ("CONFLICT", -32009, 409),
    ("PRECONDITION_FAILED", -32012, 412),
    ("PAYLOAD_TOO_LARGE", -32013, 413),
    ("UNSUPPORTED_MEDIA_TYPE", -32015, 415),
    ("UNPROCESSABLE_CONTENT", -32022, 422),
    ("PRECONDITION_REQUIRED", -32028, 428),
    ("TOO_MANY_REQUESTS", -32029, 429),
    ("CLIENT_CLOSED_REQUEST", -32099, 499),
]


def test_error_codes_are_exactly_the_21_keys_of_the_spec_table() -> None:
    assert [code.name for code in ErrorCode] == [key for key, _, _ in SPEC_TABLE]


@pytest.mark.parametrize(("key", "json_rpc", "status"), SPEC_TABLE)
def test_c20_each_code_carries_its_json_rpc_number_and_http_status(
    key: str, json_rpc: int, status: int
) -> None:
    code = ErrorCode[key]
    assert code.json_rpc == json_rpc
    assert code.http_status == status


def test_only_the_32603_family_is_retryable() -> None:
    """the SSE client retries INTERNAL_SERVER_ERROR and its four siblings only."""
    retryable = {code.name for code in ErrorCode if code.retryable}
    assert retryable == {
        "INTERNAL_SERVER_ERROR",
        "NOT_IMPLEMENTED",
        "BAD_GATEWAY",
        "SERVICE_UNAVAILABLE",
        "GATEWAY_TIMEOUT",
    }


@pytest.mark.parametrize(("key", "status"), [(k, s) for k, _, s in SPEC_TABLE if s != 400])
def test_error_code_for_status_reverses_the_http_status(key: str, status: int) -> None:
    assert error_code_for_status(status) is ErrorCode[key]


def test_error_code_for_an_unknown_status_is_internal_server_error() -> None:
    assert error_code_for_status(418) is ErrorCode.INTERNAL_SERVER_ERROR


def test_rpc_error_keeps_an_explicit_message() -> None:
    err = RPCError(ErrorCode.FORBIDDEN, "not yours")
    assert (err.code, err.message, str(err)) == (ErrorCode.FORBIDDEN, "not yours", "not yours")


def test_rpc_error_message_defaults_to_the_causes_message() -> None:
    cause = ValueError("bad thing")
    err = RPCError(ErrorCode.BAD_REQUEST, cause=cause)
    assert err.message == "bad thing"
    assert err.__cause__ is cause


def test_rpc_error_message_defaults_to_the_code_key_without_a_cause() -> None:
    assert RPCError(ErrorCode.PAYLOAD_TOO_LARGE).message == "PAYLOAD_TOO_LARGE"


def test_rpc_error_message_defaults_to_the_code_key_when_the_cause_is_silent() -> None:
    assert RPCError(ErrorCode.CONFLICT, cause=ValueError()).message == "CONFLICT"


def test_rpc_error_keeps_extra_data() -> None:
    err = RPCError(ErrorCode.BAD_REQUEST, "x", data={"issues": []})
    assert err.data == {"issues": []}


def test_rpc_error_stack_shows_the_cause_traceback() -> None:
    try:
        raise KeyError("deep")
    except KeyError as exc:
        err = RPCError(ErrorCode.INTERNAL_SERVER_ERROR, cause=exc)
    assert "KeyError" in err.stack()
    assert "deep" in err.stack()


def test_to_rpc_error_returns_an_rpc_error_unchanged() -> None:
    err = RPCError(ErrorCode.NOT_FOUND, "gone")
    assert to_rpc_error(err) is err
    assert to_rpc_error(err, is_dev=True) is err


def test_to_rpc_error_hides_the_message_of_an_unknown_exception_outside_dev_mode() -> None:
    exc = RuntimeError("password=hunter2 in /etc/secret")
    err = to_rpc_error(exc)
    assert err.code is ErrorCode.INTERNAL_SERVER_ERROR
    assert err.message == "INTERNAL_SERVER_ERROR"
    assert "hunter2" not in err.message
    assert err.cause is exc


def test_to_rpc_error_shows_the_message_of_an_unknown_exception_in_dev_mode() -> None:
    err = to_rpc_error(RuntimeError("boom"), is_dev=True)
    assert err.code is ErrorCode.INTERNAL_SERVER_ERROR
    assert err.message == "boom"


def test_to_rpc_error_names_the_exception_type_in_dev_mode_when_it_has_no_message() -> None:
    assert to_rpc_error(LookupError(), is_dev=True).message == "LookupError"
