"""Domain errors raised by the chat services.

Tree::

    ChatError
    ├── NotFound            the room, user or message does not exist    (NOT_FOUND)
    ├── Forbidden           exists, but the caller may not do this      (FORBIDDEN)
    ├── Conflict            the username is taken                       (CONFLICT)
    ├── InvalidCredentials  unknown username or wrong password          (UNAUTHORIZED)
    ├── SessionRefused      unknown, expired or ended session/token     (UNAUTHORIZED)
    │   └── RefreshReused   a rotated refresh token used again
    ├── RateLimited         too many calls; retry after ``retry_after``  (TOO_MANY_REQUESTS)
    └── ValidationFailed    input valid in shape, wrong against the DB  (BAD_REQUEST)

The services never import the tRPC engine; the codes in parentheses are what clients
get (docs/api.md "Errors"), applied by the one mapping table next to the routers.
"""

from __future__ import annotations

__all__ = [
    "ChatError",
    "Conflict",
    "Forbidden",
    "InvalidCredentials",
    "NotFound",
    "RateLimited",
    "RefreshReused",
    "SessionRefused",
    "ValidationFailed",
]


class ChatError(Exception):
    """Base class of every error the chat services raise on purpose."""


class NotFound(ChatError):
    """The ``what`` (``"room"``, ``"user"``, ``"message"``) does not exist."""

    def __init__(self, what: str) -> None:
        self.what = what
        super().__init__(f"{what} not found")


class Forbidden(ChatError):
    """The caller may not do this; ``reason`` is safe to show to that caller."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class Conflict(ChatError):
    """A unique value (the username) is already taken."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class InvalidCredentials(ChatError):
    """Unknown username or wrong password; deliberately does not say which."""

    def __init__(self) -> None:
        super().__init__("invalid username or password")


class SessionRefused(ChatError):
    """A refresh or access token that no longer opens a session; ``reason`` is safe to show."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class RefreshReused(SessionRefused):
    """A refresh token was used after it had been rotated: someone else may hold a copy,
    so its session ``session_id`` has been ended."""

    def __init__(self, session_id: int) -> None:
        self.session_id = session_id
        super().__init__("refresh token already used; the session has been ended")


class RateLimited(ChatError):
    """Too many calls; the next one is allowed after ``retry_after`` seconds."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(f"rate limit exceeded, retry in {retry_after:.1f} s")


class ValidationFailed(ChatError):
    """An input field breaks a rule that only the database can check.

    ``path`` is the field's path in the input (``("memberIds", 2)``), in the same form as
    the ``path`` of a pydantic / tRPC validation issue.
    """

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{'.'.join(map(str, path))}: {message}")
