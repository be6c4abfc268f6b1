"""The chat's use cases as async functions over a session factory; no transport here.

Modules: ``accounts`` (register, login, password, users), ``sessions`` (sign-in
sessions and refresh tokens), ``rooms`` (rooms and membership), ``ratelimit``,
``users``. Messages and room event streams are the chat store's
(:mod:`wirechat.chat.store`), which routers call directly. Each function returns
the output models of ``wirechat.chat.schemas`` (docs/api.md "Shapes") and raises the
errors of ``wirechat.chat.errors``.
"""

__all__: list[str] = []
