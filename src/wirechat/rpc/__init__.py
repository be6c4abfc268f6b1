"""wirechat.rpc: a server-side implementation of the tRPC v11 wire protocol.

Transport-free core (:class:`Engine`) plus adapters: :class:`TRPCASGIApp` for
ASGI servers and apps, and :class:`WSServer` for a standalone WebSocket port.
It imports nothing from the rest of wirechat.

    t = init_rpc(Context)
    hello = t.procedure.input(str).query(say_hello)
    router = t.router({"hello": hello})
    engine = Engine(router, create_context)
    app = TRPCASGIApp(HTTPHandler(engine))
"""

from .asgi import TRPCASGIApp
from .codec import UNDEFINED
from .context import CreateContext, RequestInfo
from .engine import Engine, ErrorFormatter, Observer
from .errors import ErrorCode, RPCError
from .http import HTTPHandler
from .init import RPC, init_rpc
from .middleware import Call, Middleware, Next
from .procedure import Procedure, ProcedureBuilder
from .push import Emit, PushSource, iterate_push
from .router import Router
from .sse import SSEOptions
from .tracked import Tracked, tracked
from .wiretype import WireType
from .ws.server import WSServer
from .ws.session import WSLimits

__all__ = [
    "RPC",
    "UNDEFINED",
    "Call",
    "CreateContext",
    "Emit",
    "Engine",
    "ErrorCode",
    "ErrorFormatter",
    "HTTPHandler",
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
    "TRPCASGIApp",
    "Tracked",
    "WSLimits",
    "WSServer",
    "WireType",
    "init_rpc",
    "iterate_push",
    "tracked",
]
