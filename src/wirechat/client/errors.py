"""The one exception a tRPC call raises, and the code table it reads.

Everything that goes wrong in a call (an error item from the server, a top-level error
answer, a body that is not tRPC, a dropped connection) surfaces as
:class:`TRPCClientError`, as ``@trpc/client`` does. Server errors carry the tRPC key
(``code``), the HTTP status and the raw ``data``; transport
failures have ``code`` None and the original exception as ``__cause__``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["STATUS_BY_KEY", "TRPCClientError", "is_retryable"]

STATUS_BY_KEY: Mapping[str, tuple[int, int]] = {
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
"""tRPC key -> (JSON-RPC code, HTTP status), as tRPC v11 defines them.

The same table as the engine's ``wirechat.rpc.ErrorCode``, kept here because importing
that module runs ``wirechat.rpc``'s package, which loads the engine and pydantic (about
70 modules, 35-40 ms): a client must not pay for the server. A test keeps the two equal.
"""

# Five keys share -32603, so the reverse map gives the first (INTERNAL_SERVER_ERROR).
_KEY_BY_NUMBER: dict[int, str] = {}
for _key, (_number, _status) in STATUS_BY_KEY.items():
    _KEY_BY_NUMBER.setdefault(_number, _key)


class TRPCClientError(Exception):
    """A failed call, subscription or connection.

    Attributes:
        message: the server's message, or a description of the transport failure.
        code: the tRPC key (``"UNAUTHORIZED"``), None for transport failures.
        json_rpc_code: the JSON-RPC number (``-32001``), None for transport failures.
        http_status: ``data.httpStatus`` when the server sent it, else the HTTP status
            of the response (when it was not a 207), else the status of ``code``.
        data: the error shape's ``data`` object as sent (``path``, ``issues``, …).
        shape: the whole error object as sent, None for transport failures.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        json_rpc_code: int | None = None,
        http_status: int | None = None,
        data: Mapping[str, Any] | None = None,
        shape: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.json_rpc_code = json_rpc_code
        self.http_status = http_status
        self.data: Mapping[str, Any] = data if data is not None else {}
        self.shape = shape

    @classmethod
    def from_shape(cls, shape: Any, response_status: int | None = None) -> TRPCClientError:
        """The error for an ``error`` object of the wire.

        ``response_status`` is the HTTP status of the response that carried it; it is
        used only when the shape has no ``data.httpStatus`` and the response was not a
        207 (whose status belongs to no single call).
        """
        if not isinstance(shape, Mapping) or not isinstance(shape.get("code"), int):
            return cls(f"Unable to transform response from server: {shape!r}")
        data = shape.get("data")
        data = data if isinstance(data, Mapping) else {}
        number: int = shape["code"]
        key = data.get("code")
        if not isinstance(key, str):
            key = _KEY_BY_NUMBER.get(number, "INTERNAL_SERVER_ERROR")
        status = data.get("httpStatus")
        if not isinstance(status, int):
            if response_status is not None and response_status != 207:
                status = response_status
            else:
                status = STATUS_BY_KEY.get(key, (number, 500))[1]
        message = shape.get("message")
        return cls(
            message if isinstance(message, str) else key,
            code=key,
            json_rpc_code=number,
            http_status=status,
            data=data,
            shape=shape,
        )

    @property
    def path(self) -> str | None:
        """The procedure path the server attributed the error to, if any."""
        path = self.data.get("path")
        return path if isinstance(path, str) else None

    def __str__(self) -> str:
        if self.code is None:
            return self.message
        return f"{self.code} ({self.http_status}): {self.message}"

    def __repr__(self) -> str:
        return f"TRPCClientError({self.code!r}, {self.message!r}, http_status={self.http_status})"


def is_retryable(error: TRPCClientError) -> bool:
    """True for the -32603 family, which subscriptions retry."""
    return error.json_rpc_code == -32603
