"""The page keeps its user signed in past the access token's lifetime, refreshing in-band
on its WebSocket, and returns to the sign-in form when the session is ended elsewhere."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from .chat import PASSWORD, create_room, log_in, message, sign_up
from .conftest import OpenPage, Server

pytestmark = pytest.mark.browser

Shots = Callable[[Page, str], Path]
LIFETIME_S = 6


def stored_token(page: Page) -> str:
    token = page.evaluate("() => JSON.parse(localStorage.getItem('wirechat.session')).token")
    assert isinstance(token, str)
    return token


def test_page_refreshes_over_its_socket_and_signs_out_when_the_session_ends(
    start_server: Callable[..., Server], open_page: Callable[[str], OpenPage], shots: Shots
) -> None:
    # Short tokens and a 1 s grace: a socket left on an expired token would be cut
    # within the test, ending the page's subscriptions and so signing it out.
    server = start_server(JWT_EXPIRES_IN=f"{LIFETIME_S}s", TOKEN_GRACE_SECONDS="1")
    name, room_name = f"ada_{secrets.token_hex(3)}", f"room_{secrets.token_hex(3)}"
    tab = open_page(server.url)
    page = tab.page
    over_http: list[str] = []
    page.on("request", lambda r: over_http.append(r.url) if "auth.refresh" in r.url else None)
    sign_up(page, name)
    create_room(page, room_name)
    first_token = stored_token(page)
    expect(page.get_by_test_id("connection")).to_have_attribute("data-status", "connected")

    # Two and a half lifetimes later: still signed in, on the same socket, with a new token.
    page.wait_for_timeout(LIFETIME_S * 2500)
    expect(page.get_by_test_id("me")).to_be_visible()
    expect(page.get_by_test_id("connection")).to_have_attribute("data-status", "connected")
    assert stored_token(page) != first_token
    assert over_http == []  # every refresh went over the socket

    # The live stream still delivers: another session of the same user sends.
    other = server.call("auth.login", {"username": name, "password": PASSWORD})
    room = next(
        r for r in server.call("rooms.list", None, other["token"]) if r["name"] == room_name
    )
    server.call("messages.send", {"roomId": room["id"], "text": "still here"}, other["token"])
    expect(message(page, "still here")).to_have_count(1)
    shots(page, "refreshed-and-live")

    # Ending every session of the user sends the page back to the sign-in form.
    tab.console.allow(r"status of 401")
    server.call("auth.logoutAll", None, other["token"])
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    expect(page.get_by_text("Your session has ended")).to_be_visible()
    shots(page, "session-ended")

    # Logging out ends the page's own session: its token is refused from then on.
    log_in(page, name, PASSWORD)
    expect(page.get_by_test_id("me")).to_be_visible()
    token = stored_token(page)
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    deadline = time.monotonic() + 10
    while True:
        me = httpx.get(
            f"{server.url}/trpc/auth.me", headers={"authorization": f"Bearer {token}"}, timeout=5
        )
        if me.status_code == 401 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert me.status_code == 401, me.text
