"""TypeScript declarations for a router: ``AppRouter`` for tRPC clients.

    text = declare_router(router).text  # write it to clients/ts/app-router.d.ts

See :mod:`.declaration` for what the file declares and :mod:`.signature` for
where each procedure's types are read from.
"""

from .declaration import Declaration, Transformer, declare_router

__all__ = ["Declaration", "Transformer", "declare_router"]
