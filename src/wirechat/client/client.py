"""The :class:`Client`: one object for queries, mutations and subscriptions.

It routes each operation to a link, as ``@trpc/client``'s ``splitLink`` setups do:
queries and mutations go over HTTP (batched) unless ``calls="ws"``; subscriptions go
over WebSocket when a ``ws_url`` is given, else over SSE, unless ``subscriptions=``
says otherwise. Links are created on first use, so a WebSocket-only client never
imports httpx.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from .codec import UNSET
from .errors import TRPCClientError
from .options import (
    ConnectionParamsSource,
    HeadersSource,
    KeepAlive,
    RetryDelay,
    Source,
    default_retry_delay,
)
from .subscription import Subscription
from .ws.link import FrameHook, WSLink

if TYPE_CHECKING:
    import httpx

    from .http import HTTPLink

__all__ = ["Client"]

Transport = Literal["http", "ws"]
SubscriptionTransport = Literal["sse", "ws"]


class Client:
    """An asyncio tRPC v11 client for any server (wirechat, or Node's ``@trpc/server``).

    ::

        async with Client("http://localhost:3000/trpc", ws_url="ws://localhost:3001",
                          headers={"authorization": f"Bearer {token}"},
                          connection_params={"token": token}) as client:
            rooms = await client.query("rooms.list")
            await client.mutate("messages.send", {"roomId": 1, "text": "hi"})
            async for event in client.subscribe("messages.onMessage", {"roomId": 1}):
                print(event.id, event.data)

    Args:
        url: the HTTP base URL of the tRPC handler (``…/trpc``); needed for HTTP calls
            and SSE subscriptions.
        ws_url: the WebSocket URL (a string or a callable evaluated on every connect).
        headers: sent with every HTTP request and on the WebSocket upgrade; a mapping or
            a callable (sync or async) called for every request and connection.
        connection_params: sent as the WebSocket's first message and as SSE's
            ``connectionParams`` query parameter; a mapping of strings, or a callable.
        calls: ``"http"`` (default when ``url`` is given) or ``"ws"``.
        subscriptions: ``"ws"`` (default when ``ws_url`` is given) or ``"sse"``.
        batch: group the calls of one event-loop tick into one ``?batch=1`` request.
        max_batch_size, max_url_length: split batches beyond these; a single
            query whose URL alone is longer fails without being sent.
        timeout: seconds for one HTTP request (None: no limit).
        retry_delay: seconds before reconnection attempt ``n``.
        keep_alive: client-side WebSocket keep-alive; off by default. The client
            always answers the server's ``PING`` with ``PONG``.
        http: an ``httpx.AsyncClient`` to use instead of a private one (not closed here).
        frame_hook: see :data:`~wirechat.client.ws.link.FrameHook`.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        ws_url: Source[str] | None = None,
        headers: HeadersSource = None,
        connection_params: ConnectionParamsSource = None,
        calls: Transport | None = None,
        subscriptions: SubscriptionTransport | None = None,
        batch: bool = True,
        max_batch_size: int | None = None,
        max_url_length: int | None = 8000,
        timeout: float | None = 30.0,
        retry_delay: RetryDelay = default_retry_delay,
        keep_alive: KeepAlive | None = None,
        http: httpx.AsyncClient | None = None,
        frame_hook: FrameHook | None = None,
    ) -> None:
        if url is None and ws_url is None:
            raise ValueError("give the HTTP url, the ws_url, or both")
        self.url = url
        self.ws_url = ws_url
        self._calls: Transport = calls or ("http" if url is not None else "ws")
        self._subscriptions: SubscriptionTransport = subscriptions or (
            "ws" if ws_url is not None else "sse"
        )
        for kind, needs in ((self._calls, "http"), (self._subscriptions, "sse")):
            if kind == needs and url is None:
                raise ValueError(f"{kind!r} transport needs the HTTP url")
        if "ws" in (self._calls, self._subscriptions) and ws_url is None:
            raise ValueError("the 'ws' transport needs ws_url")
        self._headers = headers
        self._connection_params = connection_params
        self._batch = batch
        self._max_batch_size = max_batch_size
        self._max_url_length = max_url_length
        self._timeout = timeout
        self._retry_delay = retry_delay
        self._keep_alive = keep_alive
        self._http_client = http
        self._frame_hook = frame_hook
        self._http_link: HTTPLink | None = None
        self._ws_link: WSLink | None = None
        self._subs: set[Subscription] = set()
        self._closed = False

    # ---- operations ------------------------------------------------------------------

    async def query(self, path: str, input: Any = UNSET) -> Any:
        """Run query ``path``; returns its data, raises :class:`TRPCClientError`.

        Leave ``input`` out for "no input"; ``None`` is sent as JSON ``null``.
        """
        if self._calls == "ws":
            return await self.ws.call("query", path, input)
        return await self.http.call("query", path, input)

    async def mutate(self, path: str, input: Any = UNSET) -> Any:
        """Run mutation ``path``; returns its data, raises :class:`TRPCClientError`."""
        if self._calls == "ws":
            return await self.ws.call("mutation", path, input)
        return await self.http.call("mutation", path, input)

    def subscribe(
        self,
        path: str,
        input: Any = UNSET,
        *,
        last_event_id: str | None = None,
        transport: SubscriptionTransport | None = None,
    ) -> Subscription:
        """Subscription ``path`` as an async iterator of :class:`Event`.

        It starts on first iteration (or ``async with``, or ``await sub.started()``).
        ``last_event_id`` resumes after an id known from an earlier session.
        """
        if self._closed:
            raise TRPCClientError("client is closed")
        kind = transport or self._subscriptions
        channel = self.ws if kind == "ws" else self.http
        sub = Subscription(path, input, channel, last_event_id=last_event_id)
        self._subs.add(sub)
        return sub

    # ---- links -----------------------------------------------------------------------

    @property
    def http(self) -> HTTPLink:
        """The HTTP link (created on first use)."""
        if self._http_link is None:
            if self.url is None:
                raise TRPCClientError("no HTTP url configured")
            from .http import HTTPLink

            self._http_link = HTTPLink(
                self.url,
                headers=self._headers,
                connection_params=self._connection_params,
                http=self._http_client,
                batch=self._batch,
                max_batch_size=self._max_batch_size,
                max_url_length=self._max_url_length,
                timeout=self._timeout,
                retry_delay=self._retry_delay,
            )
        return self._http_link

    @property
    def ws(self) -> WSLink:
        """The WebSocket link (created on first use; it connects on the first request)."""
        if self._ws_link is None:
            if self.ws_url is None:
                raise TRPCClientError("no ws_url configured")
            self._ws_link = WSLink(
                self.ws_url,
                headers=self._headers,
                connection_params=self._connection_params,
                retry_delay=self._retry_delay,
                keep_alive=self._keep_alive,
                frame_hook=self._frame_hook,
            )
        return self._ws_link

    # ---- lifecycle -------------------------------------------------------------------

    async def aclose(self) -> None:
        """Stop every subscription and close the connections."""
        self._closed = True
        for sub in list(self._subs):
            await sub.aclose()
        self._subs.clear()
        if self._ws_link is not None:
            await self._ws_link.aclose()
        if self._http_link is not None:
            await self._http_link.aclose()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
