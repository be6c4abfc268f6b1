"""The chat's tRPC procedures, one module per namespace of api.md."""

from .app import app_router

__all__ = ["app_router"]
