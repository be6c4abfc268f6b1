"""The whole chat API (docs/api.md "Procedures") as one router."""

from __future__ import annotations

from wirechat.chat.routers.auth import auth_router
from wirechat.chat.routers.messages import messages_router
from wirechat.chat.routers.presence import presence_router
from wirechat.chat.routers.rooms import rooms_router
from wirechat.chat.routers.typing import typing_router
from wirechat.chat.routers.users import users_router
from wirechat.rpc import Router

__all__ = ["app_router"]

app_router = Router(
    {
        "auth": auth_router,
        "users": users_router,
        "rooms": rooms_router,
        "messages": messages_router,
        "typing": typing_router,
        "presence": presence_router,
    }
)
