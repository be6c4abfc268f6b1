"""Engine: error shapes, the error formatter, the observer (COVERAGE.md items 19-22)."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import pytest

from wirechat.rpc.codec import InputSource
from wirechat.rpc.context import RequestInfo
from wirechat.rpc.engine import http_status_of
from wirechat.rpc.envelopes import ErrorShape
from wirechat.rpc.errors import ErrorCode, RPCError
from wirechat.rpc.init import init_rpc

from .support import make_engine

t = init_rpc(dict)


async def _fail(ctx: Any, value: Any) -> None:
    raise ValueError("db password leaked")


async def _ok(ctx: Any, value: Any) -> str:
    return "ok"


router = t.router({"fail": t.procedure.query(_fail), "ok": t.procedure.query(_ok)})


def test_error_shape_keys_are_message_code_data_in_that_order() -> None:
    """c21: string message, integer code, data with code key and httpStatus."""
    shape = make_engine(router).error_shape(RPCError(ErrorCode.UNAUTHORIZED, "nope"), "fail")
    assert list(shape) == ["message", "code", "data"]
    assert shape == {
        "message": "nope",
        "code": -32001,
        "data": {"code": "UNAUTHORIZED", "httpStatus": 401, "path": "fail"},
    }


def test_error_shape_without_a_path_has_no_path_key() -> None:
    shape = make_engine(router).error_shape(RPCError(ErrorCode.BAD_REQUEST))
    assert "path" not in shape["data"]


def test_error_shape_merges_the_error_data() -> None:
    err = RPCError(ErrorCode.BAD_REQUEST, "bad", data={"issues": [{"path": [], "message": "m"}]})
    shape = make_engine(router).error_shape(err, "p")
    assert shape["data"]["issues"] == [{"path": [], "message": "m"}]


def test_error_shape_has_a_stack_only_in_dev_mode() -> None:
    try:
        raise RPCError(ErrorCode.FORBIDDEN)
    except RPCError as exc:
        err = exc
    assert "stack" not in make_engine(router).error_shape(err)["data"]
    assert "Traceback" in make_engine(router, is_dev=True).error_shape(err)["data"]["stack"]


def test_the_error_formatter_can_change_the_shape() -> None:
    def formatter(shape: ErrorShape, err: RPCError) -> ErrorShape:
        shape["data"]["httpStatus"] = 418
        shape["data"]["extra"] = err.code.name  # type: ignore[typeddict-unknown-key]
        return shape

    shape = make_engine(router, error_formatter=formatter).error_shape(RPCError(ErrorCode.CONFLICT))
    assert shape["data"]["httpStatus"] == 418
    assert shape["data"]["extra"] == "CONFLICT"  # type: ignore[typeddict-item]
    assert http_status_of(shape) == 418


@pytest.mark.parametrize("status", [None, "401", True])
def test_http_status_of_a_shape_without_a_numeric_status_is_500(status: Any) -> None:
    shape: Any = {"message": "m", "code": -32001, "data": {"code": "UNAUTHORIZED"}}
    if status is not None:
        shape["data"]["httpStatus"] = status
    assert http_status_of(shape) == 500


async def test_create_context_failure_becomes_an_rpc_error() -> None:
    async def broken(info: RequestInfo) -> Any:
        raise RuntimeError("no db")

    with pytest.raises(RPCError) as info:
        await make_engine(router, broken).create_context(RequestInfo("http"))
    assert info.value.code is ErrorCode.INTERNAL_SERVER_ERROR
    assert info.value.message == "INTERNAL_SERVER_ERROR"


async def test_an_unknown_exception_is_logged_with_its_traceback_but_hidden_from_the_client(
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = make_engine(router)
    proc = router.get("fail")
    assert proc is not None
    with caplog.at_level(logging.ERROR, "wirechat.rpc"), pytest.raises(RPCError) as info:
        await engine.call(proc, "fail", {}, RequestInfo("http"), InputSource.of(None))
    assert info.value.message == "INTERNAL_SERVER_ERROR"
    assert any(record.exc_info and "fail" in record.getMessage() for record in caplog.records)


async def test_the_observer_sees_each_call_outcome() -> None:
    outcomes: list[tuple[str, str, ErrorCode | None]] = []

    class Observer:
        def call_finished(
            self, path: str, type: str, seconds: float, error: ErrorCode | None
        ) -> None:
            assert seconds >= 0
            outcomes.append((path, type, error))

    engine = make_engine(router, observer=Observer())
    for path in ("ok", "fail"):
        proc = router.get(path)
        assert proc is not None
        with contextlib.suppress(RPCError):
            await engine.call(proc, path, {}, RequestInfo("http"), InputSource.of(None))
    assert outcomes == [
        ("ok", "query", None),
        ("fail", "query", ErrorCode.INTERNAL_SERVER_ERROR),
    ]
