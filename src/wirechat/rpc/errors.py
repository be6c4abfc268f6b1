"""tRPC error codes and the one place that turns exceptions into them.

Every error a client sees is an :class:`RPCError`. Each :class:`ErrorCode` carries
its JSON-RPC number and HTTP status (tRPC v11's code table); :func:`to_rpc_error`
is the single conversion point for anything else, so an unexpected exception
becomes INTERNAL_SERVER_ERROR whose message is hidden outside development mode.
"""

from __future__ import annotations

import enum
import traceback
from typing import Any

__all__ = ["ErrorCode", "RPCError", "error_code_for_status", "to_rpc_error"]


class ErrorCode(enum.Enum):
    """tRPC error keys with their JSON-RPC code and HTTP status."""

    PARSE_ERROR = (-32700, 400)
    BAD_REQUEST = (-32600, 400)
    INTERNAL_SERVER_ERROR = (-32603, 500)
    NOT_IMPLEMENTED = (-32603, 501)
    BAD_GATEWAY = (-32603, 502)
    SERVICE_UNAVAILABLE = (-32603, 503)
    GATEWAY_TIMEOUT = (-32603, 504)
    UNAUTHORIZED = (-32001, 401)
    PAYMENT_REQUIRED = (-32002, 402)
    FORBIDDEN = (-32003, 403)
    NOT_FOUND = (-32004, 404)
    METHOD_NOT_SUPPORTED = (-32005, 405)
    TIMEOUT = (-32008, 408)
    CONFLICT = (-32009, 409)
    PRECONDITION_FAILED = (-32012, 412)
    PAYLOAD_TOO_LARGE = (-32013, 413)
    UNSUPPORTED_MEDIA_TYPE = (-32015, 415)
    UNPROCESSABLE_CONTENT = (-32022, 422)
    PRECONDITION_REQUIRED = (-32028, 428)
    TOO_MANY_REQUESTS = (-32029, 429)
    CLIENT_CLOSED_REQUEST = (-32099, 499)

    @property
    def json_rpc(self) -> int:
        return self.value[0]

    @property
    def http_status(self) -> int:
        return self.value[1]

    @property
    def retryable(self) -> bool:
        """The -32603 family, which the SSE client keeps retrying."""
        return self.json_rpc == -32603


_BY_STATUS = {code.http_status: code for code in ErrorCode}


def error_code_for_status(status: int) -> ErrorCode:
    """Reverse of :attr:`ErrorCode.http_status`; unknown statuses are internal errors."""
    return _BY_STATUS.get(status, ErrorCode.INTERNAL_SERVER_ERROR)


class RPCError(Exception):
    """An error with a tRPC code, safe to show to the client.

    ``message`` defaults to the cause's message, else to the code's key, as tRPC does.
    ``data`` holds extra fields merged into the shape's ``data`` (e.g. ``issues``).
    """

    def __init__(
        self,
        code: ErrorCode,
        message: str | None = None,
        *,
        cause: BaseException | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        if message is None:
            message = str(cause) if cause is not None and str(cause) else code.name
        super().__init__(message)
        self.code = code
        self.message = message
        self.cause = cause
        self.data = data
        if cause is not None:
            self.__cause__ = cause

    def __repr__(self) -> str:
        return f"RPCError({self.code.name}, {self.message!r})"

    def stack(self) -> str:
        """The traceback shown in ``data.stack`` in development mode only."""
        origin: BaseException = self.cause if self.cause is not None else self
        return "".join(traceback.format_exception(origin))


def to_rpc_error(exc: BaseException, *, is_dev: bool = False) -> RPCError:
    """Wrap any exception as an :class:`RPCError`.

    Unknown exceptions become INTERNAL_SERVER_ERROR. Their text may be sensitive
    (SQL, file paths), so outside development mode the message is just the key.
    """
    if isinstance(exc, RPCError):
        return exc
    code = ErrorCode.INTERNAL_SERVER_ERROR
    message = (str(exc) or type(exc).__name__) if is_dev else code.name
    return RPCError(code, message, cause=exc)
