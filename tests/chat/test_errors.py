"""Domain errors carry what the error mapping needs."""

from wirechat.chat.errors import (
    ChatError,
    Conflict,
    Forbidden,
    InvalidCredentials,
    NotFound,
    RateLimited,
    RefreshReused,
    SessionRefused,
    ValidationFailed,
)


def test_every_error_is_a_chat_error_with_a_readable_message() -> None:
    errors = [
        NotFound("room"),
        Forbidden("not a member"),
        Conflict("username is already taken"),
        InvalidCredentials(),
        RateLimited(2.5),
        ValidationFailed(("memberIds", 1), "user 9 does not exist"),
    ]
    assert all(isinstance(error, ChatError) for error in errors)
    assert [str(error) for error in errors] == [
        "room not found",
        "not a member",
        "username is already taken",
        "invalid username or password",
        "rate limit exceeded, retry in 2.5 s",
        "memberIds.1: user 9 does not exist",
    ]


def test_errors_keep_their_fields() -> None:
    assert NotFound("user").what == "user"
    assert RateLimited(1.25).retry_after == 1.25
    error = ValidationFailed(("userId",), "cannot open a direct room with yourself")
    assert (error.path, error.message) == (("userId",), "cannot open a direct room with yourself")


def test_a_refresh_reuse_is_a_refused_session_that_names_the_session_it_ended() -> None:
    error = RefreshReused(7)
    assert isinstance(error, SessionRefused) and isinstance(error, ChatError)
    assert error.session_id == 7
    assert "ended" in str(error)
    assert SessionRefused("the token is invalid or expired").reason == (
        "the token is invalid or expired"
    )
