"""tRPC over WebSocket: the sans-I/O protocol, the per-connection session, the server."""

from .protocol import WSProtocolError
from .session import WSLimits, WSSession

__all__ = ["WSLimits", "WSProtocolError", "WSSession"]
