"""Inputs and outputs of every procedure (docs/api.md "Procedures"), with its JSON field names.

Python attributes are snake_case; the JSON names are camelCase through an alias
generator, so ``Room(is_private=True).model_dump()`` gives ``{"isPrivate": true, ...}``
(``serialize_by_alias``). Inputs are strict: a JavaScript client sending ``"5"`` for an
id or ``"true"`` for a flag gets a validation error, never a silent coercion. Unknown
keys are ignored, as a zod object schema strips them.

Lengths count Unicode code points (Python's ``len``), after trimming where
docs/api.md "Field rules" says so.
Times are aware UTC datetimes in Python and ``2026-01-31T12:00:00.000Z`` strings in JSON.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    Strict,
    StringConstraints,
    field_validator,
)
from pydantic.alias_generators import to_camel

__all__ = [
    "MAX_MEMBER_IDS",
    "MAX_TEXT_LENGTH",
    "AddMemberInput",
    "AuthResult",
    "Author",
    "ChangePasswordInput",
    "ClientMessageId",
    "CreateRoomInput",
    "Cursor",
    "DeleteMessageInput",
    "DisplayName",
    "EditMessageInput",
    "EventTypeName",
    "GetUserInput",
    "Id",
    "Limit",
    "ListMessagesInput",
    "ListPublicRoomsInput",
    "LoginInput",
    "Message",
    "MessageEvent",
    "MessagePage",
    "Ok",
    "OnMessageInput",
    "OpenDirectInput",
    "Page",
    "Password",
    "PresenceEvent",
    "RefreshInput",
    "RegisterInput",
    "RemoveMemberInput",
    "Room",
    "RoomIdInput",
    "RoomName",
    "RoomPage",
    "SendMessageInput",
    "SetTypingInput",
    "Text",
    "Timestamp",
    "TypingEvent",
    "UseTokenInput",
    "User",
    "UserResult",
    "Username",
    "format_timestamp",
]

MAX_TEXT_LENGTH = 4000
MAX_MEMBER_IDS = 100


def format_timestamp(value: datetime) -> str:
    """Format ``value`` as the API's times (docs/api.md "Shapes"): ISO 8601, UTC,
    milliseconds, ``Z``.

    A naive datetime is taken to be UTC already.
    """
    if value.tzinfo is not None:
        if value.utcoffset():
            value = value.astimezone(UTC)
        value = value.replace(tzinfo=None)
    # isoformat is C code; strftime plus an f-string took twice as long.
    return value.isoformat(timespec="milliseconds") + "Z"


Timestamp = Annotated[datetime, PlainSerializer(format_timestamp, return_type=str)]
"""A time: a datetime in Python, ``2026-01-31T12:00:00.000Z`` once dumped."""

# Ids and cursors are bounded to BIGINT so an absurd number is a validation error, not a
# database overflow; any other integer is accepted and simply finds nothing.
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
Id = Annotated[int, Strict(), Field(ge=_INT64_MIN, le=_INT64_MAX)]
Cursor = Annotated[int, Strict(), Field(ge=_INT64_MIN, le=_INT64_MAX)]
Limit = Annotated[int, Strict(), Field(ge=1, le=100)]


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold U+0000 (a 500 there), SQLite would cut C strings at it:
    # refused as a validation error on every database alike.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


_NoNul = AfterValidator(_no_nul)

Username = Annotated[
    str, StringConstraints(min_length=3, max_length=32, pattern=r"^[A-Za-z0-9_]+$")
]
Password = Annotated[str, StringConstraints(min_length=8, max_length=256), _NoNul]
DisplayName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), _NoNul
]
RoomName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), _NoNul
]
Text = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT_LENGTH),
    _NoNul,
]
ClientMessageId = Annotated[str, StringConstraints(min_length=1, max_length=64), _NoNul]

EventTypeName = Literal["created", "edited", "deleted"]

_EVENT_ID = re.compile(r"[0-9]{1,18}")


class _Input(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        strict=True,
        frozen=True,
    )


class _Output(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        serialize_by_alias=True,
        frozen=True,
    )


# ---- inputs ---------------------------------------------------------------------------


class RegisterInput(_Input):
    """``auth.register``; ``displayName`` defaults to the username (done by the service)."""

    username: Username
    password: Password
    display_name: DisplayName | None = None


class LoginInput(_Input):
    """``auth.login``."""

    username: Username
    password: Password


class RefreshInput(_Input):
    """``auth.refresh``."""

    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class UseTokenInput(_Input):
    """``auth.useToken``."""

    token: Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class ChangePasswordInput(_Input):
    """``auth.changePassword``."""

    current_password: Password
    new_password: Password


class GetUserInput(_Input):
    """``users.get``."""

    user_id: Id


class CreateRoomInput(_Input):
    """``rooms.create``; every id in ``memberIds`` must be an existing user."""

    name: RoomName
    is_private: bool = False
    member_ids: Annotated[list[Id], Field(max_length=MAX_MEMBER_IDS)] = Field(default_factory=list)


class OpenDirectInput(_Input):
    """``rooms.openDirect``."""

    user_id: Id


class ListPublicRoomsInput(_Input):
    """``rooms.listPublic``; a call without input means all defaults."""

    cursor: Cursor | None = None
    limit: Limit = 50


class RoomIdInput(_Input):
    """``rooms.join``, ``rooms.leave``, ``rooms.members``, ``typing.onTyping``,
    ``presence.onPresence``."""

    room_id: Id


class AddMemberInput(_Input):
    """``rooms.addMember``."""

    room_id: Id
    user_id: Id


class RemoveMemberInput(_Input):
    """``rooms.removeMember``."""

    room_id: Id
    user_id: Id


class SendMessageInput(_Input):
    """``messages.send``; ``text`` arrives trimmed."""

    room_id: Id
    text: Text
    client_message_id: ClientMessageId | None = None


class ListMessagesInput(_Input):
    """``messages.list``; ``cursor`` is the smallest message id of the previous page."""

    room_id: Id
    cursor: Cursor | None = None
    limit: Limit = 50


class EditMessageInput(_Input):
    """``messages.edit``; ``text`` arrives trimmed."""

    message_id: Id
    text: Text


class DeleteMessageInput(_Input):
    """``messages.delete``."""

    message_id: Id


class OnMessageInput(_Input):
    """``messages.onMessage``; ``lastEventId`` is a tracked id this server sent earlier."""

    room_id: Id
    last_event_id: str | None = None

    @field_validator("last_event_id")
    @classmethod
    def _is_event_id(cls, value: str | None) -> str | None:
        # Tracked ids are room sequence numbers as decimal strings (docs/api.md "Message
        # stream and resume"); anything else cannot be resumed from.
        if value is not None and not _EVENT_ID.fullmatch(value):
            raise ValueError("must be an event id received from this stream")
        return value

    @property
    def after_seq(self) -> int | None:
        """The sequence number to replay after, or None to start live."""
        return None if self.last_event_id is None else int(self.last_event_id)


class SetTypingInput(_Input):
    """``typing.set``."""

    room_id: Id
    is_typing: bool


# ---- outputs --------------------------------------------------------------------------


class User(_Output):
    """A user (docs/api.md "Shapes")."""

    id: int
    username: str
    display_name: str
    created_at: Timestamp


class Author(_Output):
    """The author embedded in a ``Message`` and a ``TypingEvent``."""

    id: int
    username: str
    display_name: str


class Room(_Output):
    """A room (docs/api.md "Shapes")."""

    id: int
    name: str
    is_private: bool
    is_direct: bool
    owner_id: int
    created_at: Timestamp
    member_count: int


class Message(_Output):
    """A message (docs/api.md "Shapes"); a deleted one has ``text == ""`` and ``deletedAt``
    set."""

    id: int
    room_id: int
    author: Author
    text: str
    client_message_id: str | None
    created_at: Timestamp
    edited_at: Timestamp | None
    deleted_at: Timestamp | None


class MessageEvent(_Output):
    """The data of one tracked ``messages.onMessage`` event (docs/api.md "Shapes")."""

    type: EventTypeName
    message: Message


T = TypeVar("T")


class Page(_Output, Generic[T]):
    """One page of a cursor-paginated list; ``nextCursor`` is null on the last page."""

    items: list[T]
    next_cursor: int | None


RoomPage = Page[Room]
MessagePage = Page[Message]


class AuthResult(_Output):
    """Output of ``auth.register``, ``auth.login``, ``auth.refresh`` and
    ``auth.changePassword``: an access token and the refresh token of its session."""

    token: str
    refresh_token: str
    user: User


class UserResult(_Output):
    """Output of ``auth.useToken``."""

    user: User


class Ok(_Output):
    """``{ok: true}``."""

    ok: Literal[True] = True


class TypingEvent(_Output):
    """Data of a ``typing.onTyping`` event."""

    room_id: int
    user: Author
    is_typing: bool


class PresenceEvent(_Output):
    """Data of a ``presence.onPresence`` event: who is online in the room now."""

    room_id: int
    online: list[User]
