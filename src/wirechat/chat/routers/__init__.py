"""The chat's tRPC procedures, one module per namespace (docs/api.md "Procedures")."""

from .app import app_router

__all__ = ["app_router"]
