"""Who gets a connection: caps on open connections (per port, overall and per client
address) and the time a client has to send its request headers.

uvicorn offers ``limit_concurrency`` (a 503 once a request has arrived) and a
keep-alive timeout, but nothing closes a connection whose first request's headers
never finish: 300 such connections stayed open indefinitely. :func:`http_protocol`
adds both to uvicorn's httptools protocol at the socket level, before any parsing:

- over a cap, the connection gets ``503 Service Unavailable`` (``Retry-After: 1``)
  and is closed at once;
- headers not complete ``header_timeout`` seconds after the connection opened (or
  after the first byte of a later keep-alive request): ``408 Request Timeout``, closed.

The WebSocket port (picows) has its own handshake timeout and refuses over a cap with
close code 1013 (:class:`ConnectionCounter` is shared by both).

A trusted proxy (FORWARDED_ALLOW_IPS) is exempt from the per-address cap: all its
clients arrive from its one address (nginx's ``limit_conn`` is the place for that).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from wirechat.proxies import TrustedProxies

__all__ = ["ConnectionCounter", "http_protocol"]

logger = logging.getLogger("wirechat")

_REFUSED = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\n"
    b"retry-after: 1\r\ncontent-length: 21\r\nconnection: close\r\n\r\n"
    b"too many connections\n"
)
_TIMED_OUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain\r\n"
    b"content-length: 22\r\nconnection: close\r\n\r\nrequest header timeout"
)


class ConnectionCounter:
    """Open connections of one port, overall and per client address."""

    def __init__(self, max_total: int, max_per_ip: int, proxies: TrustedProxies) -> None:
        self.max_total = max_total
        self.max_per_ip = max_per_ip
        self.proxies = proxies
        self.total = 0
        self._per_ip: Counter[str] = Counter()
        self.refused = 0

    def admit(self, ip: str) -> bool:
        """Count a new connection from ``ip``; False (nothing counted) when over a cap."""
        per_ip_capped = not self.proxies.is_trusted(ip)
        if self.total >= self.max_total or (per_ip_capped and self._per_ip[ip] >= self.max_per_ip):
            self.refused += 1
            if self.refused % 100 == 1:  # a storm of refusals logs a line now and then
                logger.warning(
                    "refusing connections: %d open, %d from %s (refused so far: %d)",
                    self.total,
                    self._per_ip[ip],
                    ip,
                    self.refused,
                )
            return False
        self.total += 1
        self._per_ip[ip] += 1
        return True

    def release(self, ip: str) -> None:
        """Forget a connection :meth:`admit` counted."""
        self.total -= 1
        self._per_ip[ip] -= 1
        if self._per_ip[ip] <= 0:
            del self._per_ip[ip]


def http_protocol(counter: ConnectionCounter, header_timeout: float) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with ``counter``'s caps and a header timeout; pass it
    as ``uvicorn.Config(http=...)``."""

    class GuardedHttpToolsProtocol(HttpToolsProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._admitted: str | None = None
            self._header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            peer = transport.get_extra_info("peername")
            ip = str(peer[0]) if peer else "unknown"
            if not counter.admit(ip):
                transport.write(_REFUSED)
                transport.close()
                return
            self._admitted = ip
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            if self._admitted is not None:
                super().data_received(data)

        def connection_lost(self, exc: Exception | None) -> None:
            if self._admitted is None:
                return  # refused, or handed over to a WebSocket protocol
            counter.release(self._admitted)
            self._admitted = None
            self._disarm()
            super().connection_lost(exc)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def handle_websocket_upgrade(self) -> None:
            super().handle_websocket_upgrade()
            upgraded: Any = self.transport.get_protocol()
            ip = self._admitted
            if upgraded is self or ip is None:
                return
            # The socket now belongs to the WebSocket protocol: it releases the count.
            self._admitted = None
            lost = upgraded.connection_lost

            def connection_lost(exc: Exception | None) -> None:
                counter.release(ip)
                lost(exc)

            upgraded.connection_lost = connection_lost

        def _arm(self) -> None:
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(header_timeout, self._timed_out)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _timed_out(self) -> None:
            self._header_timer = None
            if not self.transport.is_closing():
                self.transport.write(_TIMED_OUT)
                self.transport.close()

    return GuardedHttpToolsProtocol
