"""wirechat: a real-time chat backend that speaks the tRPC v11 wire protocol."""

__all__ = ["__version__"]

__version__ = "0.1.0"
