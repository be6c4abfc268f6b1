"""Builds the output shapes (docs/api.md "Shapes") from table rows; the one place that
decides how a deleted message looks."""

from __future__ import annotations

from wirechat.chat import models, schemas

__all__ = ["author_out", "message_out", "room_out", "user_out"]


def user_out(user: models.User) -> schemas.User:
    """The ``User`` of a row."""
    return schemas.User(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        created_at=user.created_at,
    )


def author_out(user: models.User) -> schemas.Author:
    """The ``author`` of a message."""
    return schemas.Author(id=user.id, username=user.username, display_name=user.display_name)


def message_out(message: models.Message, author: models.User) -> schemas.Message:
    """The ``Message`` of a row; a deleted message never shows its text (docs/api.md
    "Shapes")."""
    return schemas.Message(
        id=message.id,
        room_id=message.room_id,
        author=author_out(author),
        text="" if message.deleted_at is not None else message.text,
        client_message_id=message.client_message_id,
        created_at=message.created_at,
        edited_at=message.edited_at,
        deleted_at=message.deleted_at,
    )


def room_out(room: models.Room, member_count: int) -> schemas.Room:
    """The ``Room`` of a row."""
    return schemas.Room(
        id=room.id,
        name=room.name,
        is_private=room.is_private,
        is_direct=room.is_direct,
        owner_id=room.owner_id,
        created_at=room.created_at,
        member_count=member_count,
    )
