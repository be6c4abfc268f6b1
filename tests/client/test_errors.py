"""The client's error table and the server's agree, and a shape becomes the right error."""

from __future__ import annotations

from wirechat.client.errors import STATUS_BY_KEY, TRPCClientError
from wirechat.rpc import ErrorCode


def test_code_table_is_the_engine_s_table() -> None:
    assert dict(STATUS_BY_KEY) == {code.name: code.value for code in ErrorCode}


def test_a_shape_without_a_key_takes_the_first_key_of_its_number() -> None:
    error = TRPCClientError.from_shape({"code": -32603, "message": "boom"})
    assert (error.code, error.http_status) == ("INTERNAL_SERVER_ERROR", 500)
    error = TRPCClientError.from_shape({"code": -32029, "message": "slow down"})
    assert (error.code, error.http_status) == ("TOO_MANY_REQUESTS", 429)
