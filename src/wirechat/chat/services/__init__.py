"""The chat's use cases as async functions over a session factory; no transport here.

Modules: ``accounts`` (register, login, users), ``rooms`` (rooms and membership),
``messages`` (messages and room event streams), ``ratelimit``. Each function returns
the api.md output models of ``wirechat.chat.schemas`` and raises the errors of
``wirechat.chat.errors``.
"""

__all__: list[str] = []
