"""wirechat.client: an asyncio client for any tRPC v11 server.

    from wirechat.client import Client

    async with Client("http://localhost:3000/trpc", ws_url="ws://localhost:3001") as c:
        print(await c.query("rooms.list"))

HTTP calls are batched per event-loop tick (httpBatchLink); subscriptions run over
WebSocket (wsLink) or Server-Sent Events (httpSubscriptionLink), reconnect by themselves
and resume tracked streams after the last id. Every failure is a
:class:`TRPCClientError`. Names are imported on first access, so ``import
wirechat.client`` loads neither httpx nor anything of the server.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .client import Client
    from .codec import UNSET
    from .errors import TRPCClientError
    from .options import KeepAlive, default_retry_delay
    from .subscription import Event, Subscription

__all__ = [
    "UNSET",
    "Client",
    "Event",
    "KeepAlive",
    "Subscription",
    "TRPCClientError",
    "default_retry_delay",
]

_SOURCES = {
    "UNSET": ".codec",
    "Client": ".client",
    "Event": ".subscription",
    "KeepAlive": ".options",
    "Subscription": ".subscription",
    "TRPCClientError": ".errors",
    "default_retry_delay": ".options",
}


def __getattr__(name: str) -> Any:
    source = _SOURCES.get(name)
    if source is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(source, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
