"""Sans-I/O tRPC over HTTP: an :class:`HTTPRequest` in, an :class:`HTTPResponse` out.

Implements tRPC v11 over HTTP (queries, mutations, batching, status rules,
top-level errors), dispatching to :mod:`.jsonl` for httpBatchStreamLink and to
:mod:`.sse` for httpSubscriptionLink. The body of a response is bytes or an
async iterator of bytes; the adapter writes it and cancels the iterator when the
client goes away.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote_to_bytes

import orjson

from .codec import UNDEFINED, InputSource, decode_input, dumps, loads
from .context import RequestInfo, validate_connection_params
from .engine import Engine, http_status_of
from .envelopes import ErrorShape, ProcedureType
from .errors import ErrorCode, RPCError
from .jsonl import JSONL_HEADERS, jsonl_stream
from .limits import Limits
from .procedure import Procedure
from .runner import PreparedCall, Runner
from .sse import SSE_HEADERS, SSEOptions, sse_stream

__all__ = ["HTTPHandler", "HTTPRequest", "HTTPResponse"]

JSON_HEADERS: tuple[tuple[str, str], ...] = (
    ("content-type", "application/json"),
    ("vary", "trpc-accept, accept"),
)

_ALLOWED: dict[ProcedureType, tuple[str, ...]] = {
    "query": ("GET",),
    "mutation": ("POST",),
    "subscription": ("GET",),
}
_ALLOWED_WITH_OVERRIDE: dict[ProcedureType, tuple[str, ...]] = {
    "query": ("GET", "POST"),
    "mutation": ("POST",),
    "subscription": ("GET", "POST"),
}


@dataclass(slots=True)
class HTTPRequest:
    """What the adapter read: ``path`` is the raw path below the mount point."""

    method: str
    path: str
    query: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    peer: str | None = None


@dataclass(slots=True)
class HTTPResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes | AsyncIterator[bytes] = b""


class _BatchInput:
    """The index-keyed input object of a batch, decoded once for all its calls."""

    __slots__ = ("_doc", "_text")

    def __init__(self, text: bytes | str | None) -> None:
        self._text = text
        self._doc: Any = None

    def item(self, index: int) -> Any:
        if self._doc is None:
            self._doc = decode_input(self._text)
        doc = self._doc
        if doc is UNDEFINED:
            return UNDEFINED
        if not isinstance(doc, dict):
            raise RPCError(
                ErrorCode.BAD_REQUEST, '"input" needs to be an object when doing a batch call'
            )
        return doc.get(str(index), UNDEFINED)


class HTTPHandler:
    """Answers tRPC HTTP requests for one :class:`Engine`.

    Limits are constructor arguments: ``limits`` (the per-connection :class:`Limits`,
    of which ``max_batch_size`` may be given alone) bounds the paths of one batch
    (top-level 400), streamed output and stream set-ups; bodies over the size limit
    are refused by the adapter before routing, with :meth:`payload_too_large`.
    """

    def __init__(
        self,
        engine: Engine[Any],
        *,
        max_batch_size: int | None = None,
        allow_batching: bool = True,
        allow_method_override: bool = False,
        sse: SSEOptions | None = None,
        jsonl_ping_ms: int | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.engine = engine
        self.limits = limits or Limits()
        self.max_batch_size = max_batch_size or self.limits.max_batch_size
        self.allow_batching = allow_batching
        self.allowed = _ALLOWED_WITH_OVERRIDE if allow_method_override else _ALLOWED
        self.sse = sse or SSEOptions()
        self.jsonl_ping_ms = jsonl_ping_ms

    # -- top-level answers -------------------------------------------------------

    def error_response(
        self, err: RPCError, headers: tuple[tuple[str, str], ...] = ()
    ) -> HTTPResponse:
        """A single-object error for failures before or around the calls."""
        shape = self.engine.error_shape(err)
        body = dumps({"error": self.engine.error_payload(shape)})
        return HTTPResponse(http_status_of(shape, err.code), [*JSON_HEADERS, *headers], body)

    def payload_too_large(self, limit: int) -> HTTPResponse:
        return self.error_response(
            RPCError(ErrorCode.PAYLOAD_TOO_LARGE, f"Request body exceeds {limit} bytes")
        )

    # -- the request -------------------------------------------------------------

    async def handle(self, request: HTTPRequest) -> HTTPResponse:
        method = request.method.upper()
        if method == "HEAD":
            return HTTPResponse(204, [("vary", "trpc-accept, accept")])
        try:
            return await self._handle(request, method)
        except RPCError as err:
            return self.error_response(err)

    async def _handle(self, request: HTTPRequest, method: str) -> HTTPResponse:
        path = decode_path(request.path)
        headers = request.headers
        if method != "GET":
            check_content_type(headers.get("content-type"))
        query = dict(parse_qsl(request.query, keep_blank_values=True))
        connection_params = parse_connection_params(query.get("connectionParams"))
        is_batch = query.get("batch") == "1"
        if is_batch and not self.allow_batching:
            raise RPCError(ErrorCode.BAD_REQUEST, "Batching is not enabled on the server")
        streaming = wants_jsonl(headers)
        if streaming and not is_batch:
            raise RPCError(
                ErrorCode.BAD_REQUEST,
                "Streaming requests must be batched (you can do a batch of 1)",
            )
        paths = path.split(",") if is_batch else [path]
        if len(paths) > self.max_batch_size:
            raise RPCError(ErrorCode.BAD_REQUEST, "Batch call exceeds maximum size")
        procedures = [self.engine.lookup(p) for p in paths]
        types = list(dict.fromkeys(p.type for p in procedures if p is not None))
        if len(types) > 1:
            raise RPCError(
                ErrorCode.BAD_REQUEST, f"Cannot mix procedure types in call: {', '.join(types)}"
            )

        info = RequestInfo("http", headers, query, request.peer, connection_params)
        text: bytes | str | None = query.get("input") if method == "GET" else request.body
        only = procedures[0]
        if (
            not is_batch
            and only is not None
            and only.type == "subscription"
            and method in self.allowed["subscription"]
        ):
            info = RequestInfo("sse", headers, query, request.peer, connection_params)
            last_event_id = (
                headers.get("last-event-id")
                or query.get("lastEventId")
                or query.get("Last-Event-Id")
            )
            call = PreparedCall(
                0, path, only, InputSource.from_json(text, last_event_id=last_event_id)
            )
            body = sse_stream(self._runner(info), call, self.sse, self.limits.max_buffered_bytes)
            return HTTPResponse(200, list(SSE_HEADERS), body)

        calls, allow = self._prepare(paths, procedures, method, is_batch, text)
        if streaming:
            body = jsonl_stream(
                self._runner(info), calls, self.jsonl_ping_ms, self.limits.max_buffered_bytes
            )
            return HTTPResponse(200, list(JSONL_HEADERS), body)

        outcomes = await self._run(calls, info)
        statuses = {status for status, _ in outcomes}
        status = statuses.pop() if len(statuses) == 1 else 207
        items = [item for _, item in outcomes]
        response_headers = list(JSON_HEADERS)
        if allow:
            response_headers.append(("allow", allow))
        body_value: Any = items if is_batch else items[0]
        return HTTPResponse(status, response_headers, dumps(body_value))

    def _prepare(
        self,
        paths: list[str],
        procedures: list[Procedure | None],
        method: str,
        is_batch: bool,
        text: bytes | str | None,
    ) -> tuple[list[PreparedCall], str | None]:
        batch_input = _BatchInput(text) if is_batch else None
        calls: list[PreparedCall] = []
        allow: str | None = None
        for index, (path, procedure) in enumerate(zip(paths, procedures, strict=True)):
            if batch_input is not None:
                source = InputSource(lambda i=index: batch_input.item(i))  # type: ignore[misc]
            else:
                source = InputSource.from_json(text)
            call = PreparedCall(index, path, procedure, source)
            if procedure is None:
                call.error = RPCError(ErrorCode.NOT_FOUND, f'No procedure found on path "{path}"')
            elif method not in self.allowed[procedure.type]:
                allow = ", ".join(self.allowed[procedure.type])
                call.error = RPCError(
                    ErrorCode.METHOD_NOT_SUPPORTED,
                    f'Unsupported {method}-request to {procedure.type} procedure at path "{path}"',
                )
            elif procedure.type == "subscription":
                call.error = RPCError(ErrorCode.BAD_REQUEST, "Cannot batch subscription calls")
            calls.append(call)
        return calls, allow

    def _runner(self, info: RequestInfo) -> Runner[Any]:
        return Runner(self.engine, info, max_stream_setups=self.limits.max_stream_setups)

    async def _run(
        self, calls: list[PreparedCall], info: RequestInfo
    ) -> list[tuple[int, dict[str, Any]]]:
        runner = self._runner(info)
        if any(call.error is None for call in calls):
            await runner.open()
        if len(calls) == 1:
            return [await self._item(runner, calls[0])]
        return list(await asyncio.gather(*(self._item(runner, c) for c in calls)))

    async def _item(self, runner: Runner[Any], call: PreparedCall) -> tuple[int, dict[str, Any]]:
        """One call's HTTP status and its response item."""
        try:
            data = await runner.unary(call, _STREAM_REFUSED)
        except RPCError as error:
            shape: ErrorShape = self.engine.error_shape(error, call.path)
            return http_status_of(shape, error.code), {"error": self.engine.error_payload(shape)}
        if data is None:
            return 200, {"result": {}}
        return 200, {"result": {"data": orjson.Fragment(data)}}


_STREAM_REFUSED = (
    "Cannot use stream-like response in non-streaming request - use httpBatchStreamLink"
)


def decode_path(raw: str) -> str:
    """Strip slashes and percent-decode strictly, as ``decodeURIComponent``."""
    stripped = raw.strip("/")
    if "%" not in stripped:
        return stripped
    try:
        _check_escapes(stripped)
        return unquote_to_bytes(stripped).decode("utf-8")
    except ValueError as exc:
        raise RPCError(
            ErrorCode.BAD_REQUEST, f'Invalid URL-encoding in path "{stripped}"', cause=exc
        ) from exc


def _check_escapes(text: str) -> None:
    hexdigits = "0123456789abcdefABCDEF"
    index = text.find("%")
    while index != -1:
        pair = text[index + 1 : index + 3]
        if len(pair) != 2 or pair[0] not in hexdigits or pair[1] not in hexdigits:
            raise ValueError(f"bad escape at {index}")
        index = text.find("%", index + 3)


def check_content_type(value: str | None) -> None:
    """Only JSON bodies are accepted; multipart and octet-stream inputs are not
    supported by this server, so they get the same 415 as any other type."""
    if value is None:
        raise RPCError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "Missing content-type header")
    if value.split(";", 1)[0].strip().lower() != "application/json":
        raise RPCError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, f'Unsupported content-type "{value}')


def wants_jsonl(headers: Mapping[str, str]) -> bool:
    """httpBatchStreamLink asks by ``trpc-accept``; ``accept`` counts only without it."""
    trpc_accept = headers.get("trpc-accept")
    if trpc_accept is not None:
        return trpc_accept.strip() == "application/jsonl"
    accept = headers.get("accept", "")
    return any(item.split(";", 1)[0].strip() == "application/jsonl" for item in accept.split(","))


def parse_connection_params(text: str | None) -> dict[str, str | None] | None:
    """Validate the ``connectionParams`` query parameter."""
    if text is None:
        return None
    try:
        value = loads(text)
    except ValueError as exc:
        raise RPCError(ErrorCode.PARSE_ERROR, "Not JSON-parsable query params", cause=exc) from exc
    return validate_connection_params(value)
