"""tRPC over HTTP with httpx: batched queries and mutations, and SSE subscriptions.

Calls made in the same event-loop tick are sent as one ``?batch=1`` request per kind
(queries GET, mutations POST), split by ``max_batch_size`` and ``max_url_length``,
as httpBatchLink does. Subscriptions follow
httpSubscriptionLink: one streaming GET each, resumed after the last tracked id
with ``Last-Event-ID`` and ``lastEventId`` in the input after a dropped stream, an
inactivity timeout or a retryable error.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from .codec import (
    UNSET,
    CallKind,
    Outcome,
    batch_body,
    batch_url,
    decode_batch,
    decode_single,
    encode_component,
    procedure_url,
)
from .errors import TRPCClientError, is_retryable
from .options import ConnectionParamsSource, HeadersSource, RetryDelay, resolve
from .sse import SSEParser
from .subscription import Event, Subscription

__all__ = ["HTTPLink"]

_JSON = {"content-type": "application/json"}
_SSE = {"accept": "text/event-stream", "cache-control": "no-cache"}


@dataclass(slots=True)
class _Op:
    path: str
    input: Any
    future: asyncio.Future[Any]


@dataclass(slots=True)
class _Queue:
    ops: list[_Op] = field(default_factory=list)
    scheduled: bool = False


class HTTPLink:
    """Queries, mutations and SSE subscriptions against one tRPC base URL.

    ``http`` is the httpx client to use (closed by :meth:`aclose` only if this link made
    it). ``batch=False`` sends one plain request per call (httpLink).
    """

    def __init__(
        self,
        url: str,
        *,
        headers: HeadersSource = None,
        connection_params: ConnectionParamsSource = None,
        http: httpx.AsyncClient | None = None,
        batch: bool = True,
        max_batch_size: int | None = None,
        max_url_length: int | None = None,
        timeout: float | None = 30.0,
        retry_delay: RetryDelay,
    ) -> None:
        self.url = url
        self._headers = headers
        self._connection_params = connection_params
        self._own_http = http is None
        self._http = http or httpx.AsyncClient(
            timeout=timeout,
            # One connection per open SSE stream: don't let a pool limit queue them.
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=32),
        )
        self._batch = batch
        self._max_batch_size = max_batch_size
        self._max_url_length = max_url_length
        self._retry_delay = retry_delay
        self._queues: dict[CallKind, _Queue] = {"query": _Queue(), "mutation": _Queue()}
        self._tasks: set[asyncio.Task[None]] = set()
        self._streams: dict[Subscription, asyncio.Task[None]] = {}

    # ---- queries and mutations -------------------------------------------------------

    async def call(self, kind: CallKind, path: str, input: Any = UNSET) -> Any:
        """The ``data`` of one call; raises :class:`TRPCClientError`."""
        if not self._batch:
            return await self._single(kind, path, input)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        queue = self._queues[kind]
        queue.ops.append(_Op(path, input, future))
        if not queue.scheduled:
            queue.scheduled = True
            asyncio.get_running_loop().call_soon(self._dispatch, kind)
        return await future

    def _dispatch(self, kind: CallKind) -> None:
        queue = self._queues[kind]
        ops = [op for op in queue.ops if not op.future.done()]
        queue.ops, queue.scheduled = [], False
        for group in self._groups(kind, ops):
            task = asyncio.ensure_future(self._send(kind, group))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            # Every caller gone (cancelled): abort the request, as httpBatchLink does.
            abort = _Abort(group, task)
            for op in group:
                op.future.add_done_callback(abort)

    def _url(self, kind: CallKind, ops: list[_Op]) -> str:
        inputs = [op.input for op in ops] if kind == "query" else None
        return batch_url(self.url, [op.path for op in ops], inputs)

    def _groups(self, kind: CallKind, ops: list[_Op]) -> list[list[_Op]]:
        """``ops`` split so no group exceeds the item or URL limit."""
        limit, size = self._max_url_length, self._max_batch_size
        groups: list[list[_Op]] = []
        group: list[_Op] = []
        for op in ops:
            candidate = [*group, op]
            too_many = size is not None and len(candidate) > size
            too_long = limit is not None and len(self._url(kind, candidate)) > limit
            if group and (too_many or too_long):
                groups.append(group)
                candidate = [op]
                too_long = limit is not None and len(self._url(kind, candidate)) > limit
            if too_long:
                op.future.set_exception(TRPCClientError("Input is too big for a single dispatch"))
                group = []
                continue
            group = candidate
        if group:
            groups.append(group)
        return groups

    async def _send(self, kind: CallKind, ops: list[_Op]) -> None:
        try:
            headers = await self._request_headers()
            url = self._url(kind, ops)
            if kind == "query":
                response = await self._http.get(url, headers=headers)
            else:
                body = batch_body([op.input for op in ops])
                response = await self._http.post(url, content=body, headers={**_JSON, **headers})
            outcomes = decode_batch(response.status_code, response.content, len(ops))
        except TRPCClientError as exc:
            outcomes = [Outcome(error=exc)] * len(ops)
        except (httpx.HTTPError, OSError) as exc:
            error = TRPCClientError(f"{type(exc).__name__}: {exc}")
            error.__cause__ = exc
            outcomes = [Outcome(error=error)] * len(ops)
        for op, outcome in zip(ops, outcomes, strict=True):
            _settle(op.future, outcome)

    async def _single(self, kind: CallKind, path: str, input: Any) -> Any:
        headers = await self._request_headers()
        try:
            if kind == "query":
                query = [] if input is UNSET else [("input", encode_component(input))]
                response = await self._http.get(
                    procedure_url(self.url, path, query), headers=headers
                )
            else:
                body = b"" if input is UNSET else orjson.dumps(input)
                response = await self._http.post(
                    procedure_url(self.url, path), content=body, headers={**_JSON, **headers}
                )
        except (httpx.HTTPError, OSError) as exc:
            raise TRPCClientError(f"{type(exc).__name__}: {exc}") from exc
        outcome = decode_single(response.status_code, response.content)
        if outcome.error is not None:
            raise outcome.error
        return outcome.data

    async def _request_headers(self) -> dict[str, str]:
        headers = await resolve(self._headers)
        return dict(headers) if headers else {}

    # ---- SSE subscriptions -----------------------------------------------------------

    def open(self, subscription: Subscription) -> None:
        self._streams[subscription] = asyncio.ensure_future(self._stream(subscription))

    async def close(self, subscription: Subscription) -> None:
        task = self._streams.pop(subscription, None)
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _stream(self, sub: Subscription) -> None:
        attempt = 0
        try:
            while True:
                try:
                    if await self._stream_once(sub):
                        return
                    attempt = 0
                except _Retry as retry:
                    attempt = 0 if retry.progressed else attempt + 1
                await asyncio.sleep(self._retry_delay(attempt))
        finally:
            self._streams.pop(sub, None)

    async def _stream_once(self, sub: Subscription) -> bool:
        """One SSE request; True when the subscription ended for good (return/error).

        Raises :class:`_Retry` when it should be opened again.
        """
        query: list[tuple[str, str]] = []
        params = await resolve(self._connection_params)
        if params is not None:
            query.append(("connectionParams", encode_component(dict(params))))
        request_input = sub.request_input()
        if request_input is not UNSET:
            query.append(("input", encode_component(request_input)))
        headers = {**_SSE, **await self._request_headers()}
        if sub.last_event_id is not None:
            headers["last-event-id"] = sub.last_event_id
        url = procedure_url(self.url, sub.path, query)
        connected = data_seen = False
        try:
            async with self._http.stream(
                "GET", url, headers=headers, timeout=httpx.Timeout(30.0, read=None)
            ) as response:
                content_type = response.headers.get("content-type", "")
                if response.status_code != 200 or not content_type.startswith("text/event-stream"):
                    # EventSource gives up on anything but a 200 event stream.
                    body = await response.aread()
                    outcome = decode_single(response.status_code, body)
                    sub.on_error(
                        outcome.error
                        or TRPCClientError(
                            f"HTTP {response.status_code}: not an event stream",
                            http_status=response.status_code,
                        )
                    )
                    return True
                parser = SSEParser()
                inactivity: float | None = None
                loop = asyncio.get_running_loop()
                # One deadline moved on by every line, in this task: httpx streams must be
                # read by the task that opened them (no wait_for, which spawns a task).
                try:
                    async with asyncio.timeout(None) as deadline:
                        async for line in response.aiter_lines():
                            if inactivity is not None:
                                deadline.reschedule(loop.time() + inactivity)
                            event = parser.feed_line(line)
                            if event is None:
                                continue
                            kind = event.event
                            if kind == "message":
                                tracked = event.id or None
                                sub.on_data(Event(orjson.loads(event.data), tracked))
                                data_seen = True
                            elif kind == "connected":
                                # A later `connected` only updates the options: wirechat
                                # sends one before closing a stream to ask for a prompt
                                # reconnect with fresh credentials.
                                inactivity = _inactivity(event.data)
                                if inactivity is not None:
                                    deadline.reschedule(loop.time() + inactivity)
                                if not connected:
                                    connected = True
                                    sub.on_started()
                            elif kind == "return":
                                sub.on_complete()
                                return True
                            elif kind == "serialized-error":
                                error = TRPCClientError.from_shape(orjson.loads(event.data))
                                if is_retryable(error):
                                    raise _Retry(data_seen)
                                sub.on_error(error)
                                return True
                            elif kind == "restore-id" and event.id:
                                sub.last_event_id = event.id
                except TimeoutError:
                    raise _Retry(connected or data_seen) from None
                raise _Retry(connected or data_seen)
        except (httpx.HTTPError, OSError, orjson.JSONDecodeError):
            raise _Retry(connected or data_seen) from None

    async def aclose(self) -> None:
        for sub in list(self._streams):
            await self.close(sub)
        for task in list(self._tasks):
            task.cancel()
        if self._own_http:
            await self._http.aclose()


class _Abort:
    """Cancels a batch's request once every one of its callers has gone."""

    __slots__ = ("ops", "task")

    def __init__(self, ops: list[_Op], task: asyncio.Task[None]) -> None:
        self.ops = ops
        self.task = task

    def __call__(self, _: asyncio.Future[Any]) -> None:
        if not self.task.done() and all(op.future.cancelled() for op in self.ops):
            self.task.cancel()


class _Retry(Exception):
    """The stream ended without ``return``: open it again; ``progressed`` (it was
    connected, or data came) makes the next attempt immediate, else the backoff grows."""

    def __init__(self, progressed: bool) -> None:
        self.progressed = progressed


def _inactivity(data: str) -> float | None:
    """``reconnectAfterInactivityMs`` of the ``connected`` event, in seconds."""
    try:
        options = orjson.loads(data) if data else {}
    except orjson.JSONDecodeError:
        return None
    value = options.get("reconnectAfterInactivityMs") if isinstance(options, Mapping) else None
    return value / 1000 if isinstance(value, int | float) and value > 0 else None


def _settle(future: asyncio.Future[Any], outcome: Outcome) -> None:
    if future.done():
        return
    if outcome.error is not None:
        future.set_exception(outcome.error)
    else:
        future.set_result(outcome.data)
