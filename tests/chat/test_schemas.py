"""docs/api.md "Field rules" on every procedure input, and the JSON form of outputs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from wirechat.chat import schemas


def valid(model: type[BaseModel], data: dict[str, Any]) -> BaseModel:
    return model.model_validate(data)


def invalid(model: type[BaseModel], data: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Validate ``data``, expect failure, return the failing paths."""
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    return [error["loc"] for error in info.value.errors()]


PW = "password1"


class TestUsername:
    @pytest.mark.parametrize("name", ["abc", "A" * 32, "user_01", "___", "ABC_xyz_123"])
    def test_accepts_3_to_32_of_letters_digits_underscore(self, name: str) -> None:
        assert valid(schemas.RegisterInput, {"username": name, "password": PW})

    @pytest.mark.parametrize(
        "name", ["ab", "A" * 33, "", "has space", "dash-ed", "dot.ted", "émile", "abc\n", 123]
    )
    def test_rejects_others(self, name: object) -> None:
        assert invalid(schemas.RegisterInput, {"username": name, "password": PW}) == [("username",)]

    def test_login_applies_the_same_rule(self) -> None:
        assert invalid(schemas.LoginInput, {"username": "a b", "password": PW}) == [("username",)]


class TestPassword:
    @pytest.mark.parametrize("password", ["x" * 8, "x" * 256, " " * 8, "mötörhëad"])
    def test_accepts_8_to_256_characters(self, password: str) -> None:
        assert valid(schemas.LoginInput, {"username": "alice", "password": password})

    @pytest.mark.parametrize("password", ["x" * 7, "x" * 257, "", 12345678, None])
    def test_rejects_others(self, password: object) -> None:
        assert invalid(schemas.RegisterInput, {"username": "alice", "password": password}) == [
            ("password",)
        ]


class TestDisplayName:
    def test_is_optional(self) -> None:
        model = schemas.RegisterInput.model_validate({"username": "alice", "password": PW})
        assert model.display_name is None

    @pytest.mark.parametrize(
        ("given", "stored"), [("A", "A"), ("x" * 64, "x" * 64), (" Al ", "Al")]
    )
    def test_accepts_1_to_64_characters_trimmed(self, given: str, stored: str) -> None:
        model = schemas.RegisterInput.model_validate(
            {"username": "alice", "password": PW, "displayName": given}
        )
        assert model.display_name == stored

    @pytest.mark.parametrize("given", ["", "   ", "x" * 65, 5])
    def test_rejects_others(self, given: object) -> None:
        data = {"username": "alice", "password": PW, "displayName": given}
        assert invalid(schemas.RegisterInput, data) == [("displayName",)]


class TestRoomName:
    @pytest.mark.parametrize(
        ("given", "stored"), [("a", "a"), ("r" * 100, "r" * 100), (" r ", "r")]
    )
    def test_accepts_1_to_100_characters_trimmed(self, given: str, stored: str) -> None:
        assert schemas.CreateRoomInput.model_validate({"name": given}).name == stored

    @pytest.mark.parametrize("given", ["", "  ", "r" * 101, None])
    def test_rejects_others(self, given: object) -> None:
        assert invalid(schemas.CreateRoomInput, {"name": given}) == [("name",)]


class TestCreateRoom:
    def test_defaults_to_public_without_members(self) -> None:
        model = schemas.CreateRoomInput.model_validate({"name": "general"})
        assert (model.is_private, model.member_ids) == (False, [])

    def test_accepts_100_member_ids(self) -> None:
        data = {"name": "r", "isPrivate": True, "memberIds": list(range(1, 101))}
        assert len(schemas.CreateRoomInput.model_validate(data).member_ids) == 100

    def test_rejects_101_member_ids(self) -> None:
        data = {"name": "r", "memberIds": list(range(1, 102))}
        assert invalid(schemas.CreateRoomInput, data) == [("memberIds",)]

    def test_rejects_string_member_ids_and_flags(self) -> None:
        data = {"name": "r", "isPrivate": "true", "memberIds": [1, "2"]}
        assert invalid(schemas.CreateRoomInput, data) == [("isPrivate",), ("memberIds", 1)]


class TestText:
    @pytest.mark.parametrize(
        ("given", "stored"),
        [
            ("x", "x"),
            ("  hi  ", "hi"),
            ("\n x \t", "x"),
            ("y" * 4000, "y" * 4000),
            (" " + "y" * 4000 + " ", "y" * 4000),
            ("a  b", "a  b"),
        ],
    )
    def test_accepts_1_to_4000_characters_after_trimming(self, given: str, stored: str) -> None:
        model = schemas.SendMessageInput.model_validate({"roomId": 1, "text": given})
        assert model.text == stored

    @pytest.mark.parametrize("given", ["", "   ", "\n\t", "y" * 4001, 42])
    def test_rejects_others(self, given: object) -> None:
        assert invalid(schemas.SendMessageInput, {"roomId": 1, "text": given}) == [("text",)]

    def test_edit_applies_the_same_rule(self) -> None:
        assert schemas.EditMessageInput.model_validate({"messageId": 1, "text": " e "}).text == "e"
        assert invalid(schemas.EditMessageInput, {"messageId": 1, "text": " "}) == [("text",)]


class TestClientMessageId:
    @pytest.mark.parametrize("given", ["a", "c" * 64, None])
    def test_accepts_1_to_64_characters_or_null(self, given: str | None) -> None:
        data = {"roomId": 1, "text": "t", "clientMessageId": given}
        assert schemas.SendMessageInput.model_validate(data).client_message_id == given

    @pytest.mark.parametrize("given", ["", "c" * 65, 7])
    def test_rejects_others(self, given: object) -> None:
        data = {"roomId": 1, "text": "t", "clientMessageId": given}
        assert invalid(schemas.SendMessageInput, data) == [("clientMessageId",)]


class TestIds:
    @pytest.mark.parametrize("given", ["5", 5.0, 5.5, True, None, [5], 2**63])
    def test_room_id_must_be_an_integer_not_a_look_alike(self, given: object) -> None:
        assert invalid(schemas.RoomIdInput, {"roomId": given}) == [("roomId",)]

    def test_room_id_is_required(self) -> None:
        assert invalid(schemas.RoomIdInput, {}) == [("roomId",)]

    def test_json_input_is_validated_the_same_way(self) -> None:
        assert schemas.AddMemberInput.model_validate_json('{"roomId": 1, "userId": 2}')
        with pytest.raises(ValidationError):
            schemas.AddMemberInput.model_validate_json('{"roomId": "1", "userId": 2}')

    def test_unknown_keys_are_ignored_like_zod_does(self) -> None:
        assert schemas.GetUserInput.model_validate({"userId": 3, "extra": 1}).user_id == 3

    def test_python_names_are_accepted_too(self) -> None:
        assert schemas.GetUserInput(user_id=3).user_id == 3


class TestPagination:
    @pytest.mark.parametrize("model", [schemas.ListPublicRoomsInput, schemas.ListMessagesInput])
    @pytest.mark.parametrize("limit", [1, 50, 100])
    def test_limit_accepts_1_to_100(self, model: type[BaseModel], limit: int) -> None:
        assert valid(model, {"roomId": 1, "limit": limit})

    @pytest.mark.parametrize("model", [schemas.ListPublicRoomsInput, schemas.ListMessagesInput])
    @pytest.mark.parametrize("limit", [0, 101, -1, "10", 10.5, None])
    def test_limit_rejects_others(self, model: type[BaseModel], limit: object) -> None:
        assert invalid(model, {"roomId": 1, "limit": limit}) == [("limit",)]

    def test_defaults(self) -> None:
        model = schemas.ListMessagesInput.model_validate({"roomId": 1})
        assert (model.cursor, model.limit) == (None, 50)
        assert schemas.ListPublicRoomsInput().limit == 50

    @pytest.mark.parametrize("cursor", [None, 0, 17, 2**53])
    def test_cursor_is_an_optional_integer_or_null(self, cursor: int | None) -> None:
        data = {"roomId": 1, "cursor": cursor}
        assert schemas.ListMessagesInput.model_validate(data).cursor == cursor

    @pytest.mark.parametrize("cursor", ["17", 1.5, False])
    def test_cursor_rejects_others(self, cursor: object) -> None:
        assert invalid(schemas.ListMessagesInput, {"roomId": 1, "cursor": cursor}) == [("cursor",)]


class TestLastEventId:
    @pytest.mark.parametrize(("given", "seq"), [(None, None), ("0", 0), ("42", 42)])
    def test_accepts_null_or_an_event_id(self, given: str | None, seq: int | None) -> None:
        model = schemas.OnMessageInput.model_validate({"roomId": 1, "lastEventId": given})
        assert model.after_seq == seq

    def test_is_optional(self) -> None:
        assert schemas.OnMessageInput.model_validate({"roomId": 1}).after_seq is None

    @pytest.mark.parametrize("given", [42, "", "abc", "-1", "1.5", "9" * 19])
    def test_rejects_anything_else(self, given: object) -> None:
        assert invalid(schemas.OnMessageInput, {"roomId": 1, "lastEventId": given}) == [
            ("lastEventId",)
        ]


def test_typing_flag_must_be_a_boolean() -> None:
    assert schemas.SetTypingInput.model_validate({"roomId": 1, "isTyping": True}).is_typing
    assert invalid(schemas.SetTypingInput, {"roomId": 1, "isTyping": 1}) == [("isTyping",)]


class TestOutputs:
    when = datetime(2026, 1, 31, 12, 0, 0, 123456, tzinfo=UTC)

    def test_times_serialize_as_utc_with_milliseconds_and_z(self) -> None:
        assert schemas.format_timestamp(self.when) == "2026-01-31T12:00:00.123Z"
        plus_two = self.when.astimezone(timezone(timedelta(hours=2)))
        assert schemas.format_timestamp(plus_two) == "2026-01-31T12:00:00.123Z"
        assert schemas.format_timestamp(datetime(2026, 1, 1, tzinfo=UTC)) == (
            "2026-01-01T00:00:00.000Z"
        )

    def test_message_dumps_with_api_field_names(self) -> None:
        message = schemas.Message(
            id=7,
            room_id=3,
            author=schemas.Author(id=1, username="alice", display_name="Alice"),
            text="hi",
            client_message_id=None,
            created_at=self.when,
            edited_at=None,
            deleted_at=self.when,
        )
        assert message.model_dump(mode="json") == {
            "id": 7,
            "roomId": 3,
            "author": {"id": 1, "username": "alice", "displayName": "Alice"},
            "text": "hi",
            "clientMessageId": None,
            "createdAt": "2026-01-31T12:00:00.123Z",
            "editedAt": None,
            "deletedAt": "2026-01-31T12:00:00.123Z",
        }
        event = schemas.MessageEvent(type="created", message=message)
        assert event.model_dump(mode="json")["type"] == "created"

    def test_room_page_ok_and_ephemeral_events_dump_with_api_field_names(self) -> None:
        room = schemas.Room(
            id=1,
            name="general",
            is_private=False,
            is_direct=False,
            owner_id=2,
            created_at=self.when,
            member_count=3,
        )
        page = schemas.Page[schemas.Room](items=[room], next_cursor=None)
        assert page.model_dump_json() == (
            '{"items":[{"id":1,"name":"general","isPrivate":false,"isDirect":false,'
            '"ownerId":2,"createdAt":"2026-01-31T12:00:00.123Z","memberCount":3}],'
            '"nextCursor":null}'
        )
        assert schemas.Ok().model_dump() == {"ok": True}
        author = schemas.Author(id=1, username="a", display_name="A")
        typing = schemas.TypingEvent(room_id=1, user=author, is_typing=True)
        assert typing.model_dump() == {
            "roomId": 1,
            "user": {"id": 1, "username": "a", "displayName": "A"},
            "isTyping": True,
        }
        user = schemas.User(id=1, username="a", display_name="A", created_at=self.when)
        presence = schemas.PresenceEvent(room_id=1, online=[user])
        assert presence.model_dump(mode="json")["online"][0]["createdAt"] == (
            "2026-01-31T12:00:00.123Z"
        )
