"""``init_rpc``: the starting point of an application's procedures and routers."""

from __future__ import annotations

from typing import Any, Generic

from .context import CtxT
from .procedure import ProcedureBuilder
from .router import Router, RouterDef

__all__ = ["RPC", "init_rpc"]


class RPC(Generic[CtxT]):
    """Holds the base procedure builder for a context type ``CtxT``."""

    def __init__(self) -> None:
        self.procedure: ProcedureBuilder[CtxT, Any] = ProcedureBuilder()

    @staticmethod
    def router(definition: RouterDef) -> Router:
        return Router(definition)


def init_rpc(context_type: type[CtxT]) -> RPC[CtxT]:
    """Start an application: ``t = init_rpc(Context); public = t.procedure``."""
    del context_type  # only fixes the type parameter
    return RPC()
