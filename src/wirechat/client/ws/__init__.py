"""tRPC over WebSocket for the client: a sans-I/O message codec and the picows driver."""

__all__: list[str] = []
