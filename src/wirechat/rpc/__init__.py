"""wirechat.rpc: a server-side implementation of the tRPC v11 wire protocol.

Transport-free core (:class:`Engine`) plus adapters: :class:`TRPCASGIApp` for
ASGI servers and apps, and :class:`WSServer` for a standalone WebSocket port.
It imports nothing from the rest of wirechat, and the transports are imported
on first use: an application that only builds procedures and an engine never
loads them (nor picows).

    t = init_rpc(Context)
    hello = t.procedure.input(str).query(say_hello)
    router = t.router({"hello": hello})
    engine = Engine(router, create_context)
    app = TRPCASGIApp(HTTPHandler(engine))
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .codec import UNDEFINED
from .connection import Connection
from .context import CreateContext, RequestInfo
from .engine import Engine, ErrorFormatter, Observer
from .errors import ErrorCode, RPCError
from .init import RPC, init_rpc
from .limits import Limits
from .middleware import Call, Middleware, Next
from .procedure import Procedure, ProcedureBuilder
from .push import Emit, PushSource, StreamClosed, iterate_push
from .router import Router
from .tracked import Tracked, tracked
from .transformer import SuperJSON, Transformer
from .wiretype import WireType

if TYPE_CHECKING:
    from .asgi import TRPCASGIApp
    from .http import HTTPHandler
    from .sse import SSEOptions
    from .ws.server import WSServer

__all__ = [
    "RPC",
    "UNDEFINED",
    "Call",
    "Connection",
    "CreateContext",
    "Emit",
    "Engine",
    "ErrorCode",
    "ErrorFormatter",
    "HTTPHandler",
    "Limits",
    "Middleware",
    "Next",
    "Observer",
    "Procedure",
    "ProcedureBuilder",
    "PushSource",
    "RPCError",
    "RequestInfo",
    "Router",
    "SSEOptions",
    "StreamClosed",
    "SuperJSON",
    "TRPCASGIApp",
    "Tracked",
    "Transformer",
    "WSServer",
    "WireType",
    "init_rpc",
    "iterate_push",
    "tracked",
]

# The transports, imported on first use (the engine alone never loads them).
_TRANSPORTS = {
    "HTTPHandler": ".http",
    "SSEOptions": ".sse",
    "TRPCASGIApp": ".asgi",
    "WSServer": ".ws.server",
}


def __getattr__(name: str) -> Any:
    source = _TRANSPORTS.get(name)
    if source is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(source, __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
