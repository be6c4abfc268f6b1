"""tRPC over WebSocket: the sans-I/O protocol, the per-connection session, the server.

The server (``ws.server``, on picows) is not imported here: load it only to serve.
"""

from .protocol import WSProtocolError
from .session import WSSession

__all__ = ["WSProtocolError", "WSSession"]
