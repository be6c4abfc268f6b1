"""Two people chatting on the page in Chromium, against a real ``wirechat serve``.

Every test also asserts that the page logged no console error (the ``open_page``
fixture), and leaves numbered screenshots of its steps under ``artifacts/browser/``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from .chat import PASSWORD, create_room, join_room, log_in, message, message_texts, send, sign_up
from .conftest import OpenPage, Server
from .proxy import SocketRelay

pytestmark = pytest.mark.browser

Shots = Callable[[Page, str], Path]


def unique(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(3)}"


def member(page: Page, username: str) -> Locator:
    return page.get_by_test_id("members").locator("li", has_text=f"@{username}")


def two_people_in_a_room(
    server: Server, open_page: Callable[[str], OpenPage], shots: Shots
) -> tuple[Page, Page, str, str, str]:
    alice_name, bob_name, room = unique("alice"), unique("bob"), unique("room")
    alice = open_page(server.url).page
    bob = open_page(server.url).page
    sign_up(alice, alice_name)
    sign_up(bob, bob_name)
    create_room(alice, room)
    join_room(bob, room)
    shots(bob, "bob-joined")
    return alice, bob, alice_name, bob_name, room


def test_two_users_chat_live_see_typing_and_presence(
    server: Server, open_page: Callable[[str], OpenPage], shots: Shots
) -> None:
    alice, bob, alice_name, bob_name, _ = two_people_in_a_room(server, open_page, shots)

    # Both online, seen from both sides.
    for page in (alice, bob):
        expect(member(page, alice_name)).to_have_attribute("data-online", "true")
        expect(member(page, bob_name)).to_have_attribute("data-online", "true")
        expect(page.get_by_test_id("connection")).to_have_attribute("data-status", "connected")
    shots(alice, "both-online")

    send(alice, "hello bob")
    expect(message(bob, "hello bob")).to_have_count(1)
    send(bob, "hi alice")
    expect(message(alice, "hi alice")).to_have_count(1)
    assert message_texts(alice) == message_texts(bob) == ["hello bob", "hi alice"]
    shots(bob, "messages-both-ways")

    # Typing shows up for the other person and clears when the message is sent.
    alice.get_by_label("Message", exact=True).press_sequentially("still there?")
    expect(bob.get_by_test_id("typing")).to_contain_text("is typing")
    expect(bob.get_by_test_id("typing")).to_contain_text(alice_name)
    shots(bob, "alice-typing")
    alice.get_by_label("Message", exact=True).press("Enter")
    expect(message(bob, "still there?")).to_have_count(1)
    expect(bob.get_by_test_id("typing")).not_to_contain_text("typing")
    shots(bob, "typing-cleared")


def test_edit_and_delete_show_up_for_the_other_user(
    server: Server, open_page: Callable[[str], OpenPage], shots: Shots
) -> None:
    alice, bob, *_ = two_people_in_a_room(server, open_page, shots)
    send(alice, "frist post")
    send(alice, "to be deleted")
    expect(message(bob, "to be deleted")).to_have_count(1)

    message(alice, "frist post").get_by_role("button", name="Edit").click()
    edit = alice.get_by_label("Edit message")
    edit.fill("first post")
    edit.press("Enter")
    expect(message(bob, "first post")).to_contain_text("(edited)")
    expect(message(bob, "frist post")).to_have_count(0)
    shots(bob, "edited")

    message(alice, "to be deleted").get_by_role("button", name="Delete").click()
    expect(message(bob, "to be deleted")).to_have_count(0)
    expect(message(alice, "to be deleted")).to_have_count(0)
    assert message_texts(bob) == ["first post"]
    shots(bob, "deleted")


def test_direct_conversation_from_the_member_list_and_leaving_a_room(
    server: Server, open_page: Callable[[str], OpenPage], shots: Shots
) -> None:
    alice, bob, alice_name, bob_name, room = two_people_in_a_room(server, open_page, shots)

    alice.get_by_role("button", name=f"Message {bob_name}").click()
    expect(alice.get_by_test_id("room-title")).to_have_text(f"@{bob_name}")
    send(alice, "just between us")
    expect(message(alice, "just between us")).to_have_count(1)
    shots(alice, "direct-room")

    # Bob finds the conversation in his rooms (the list polls; Refresh asks at once).
    bob.get_by_role("button", name="Refresh").click()
    bob.get_by_test_id("my-rooms").get_by_role("button", name=f"@{alice_name}").click()
    expect(message(bob, "just between us")).to_have_count(1)
    expect(bob.get_by_role("button", name="Leave room")).to_have_count(0)  # direct: no leaving
    shots(bob, "direct-room-for-bob")

    bob.get_by_test_id("my-rooms").get_by_role("button", name=room, exact=True).click()
    bob.get_by_role("button", name="Leave room").click()
    expect(
        bob.get_by_test_id("my-rooms").get_by_role("button", name=room, exact=True)
    ).to_have_count(0)
    expect(bob.get_by_role("button", name=f"Join {room}", exact=True)).to_be_visible()
    shots(bob, "left")

    # The token kept in localStorage signs Bob back in after a reload.
    bob.reload()
    expect(bob.get_by_test_id("me")).to_contain_text(f"@{bob_name}")
    expect(bob.get_by_test_id("my-rooms")).to_contain_text(f"@{alice_name}")


def test_scrolling_up_loads_older_history_page_by_page(
    server: Server, open_page: Callable[[str], OpenPage], shots: Shots
) -> None:
    seeder = server.call("auth.register", {"username": unique("seed"), "password": PASSWORD})
    room_name = unique("history")
    room = server.call("rooms.create", {"name": room_name}, seeder["token"])
    texts = [f"seed {n:03d}" for n in range(1, 251)]
    server.send_many(seeder["token"], room["id"], texts)

    page = open_page(server.url).page
    sign_up(page, unique("reader"))
    join_room(page, room_name)
    expect(message(page, "seed 250")).to_have_count(1)
    assert message_texts(page) == texts[-50:]
    shots(page, "newest-page")

    timeline = page.get_by_test_id("messages")
    for _ in range(20):
        if page.get_by_text("Beginning of the conversation").count():
            break
        timeline.evaluate("el => { el.scrollTop = 0 }")
        page.wait_for_timeout(200)
    expect(page.get_by_text("Beginning of the conversation")).to_be_visible()
    assert message_texts(page) == texts
    shots(page, "all-history")


def test_more_rooms_loads_the_next_page_of_public_rooms(
    start_server: Callable[..., Server], open_page: Callable[[str], OpenPage], shots: Shots
) -> None:
    server = start_server(RATE_LIMIT_ROOMS="1000/1m")
    owner = server.call("auth.register", {"username": unique("owner"), "password": PASSWORD})
    names = [f"public_{n:03d}" for n in range(1, 106)]  # a page holds 100
    for name in names:
        server.call("rooms.create", {"name": name}, owner["token"])

    page = open_page(server.url).page
    sign_up(page, unique("visitor"))
    listed = page.get_by_test_id("public-rooms").get_by_role("button", name=re.compile("^Join "))
    expect(listed).to_have_count(100)
    expect(page.get_by_role("button", name=f"Join {names[-1]}", exact=True)).to_have_count(0)
    shots(page, "first-page")

    page.get_by_role("button", name="More rooms").click()
    expect(listed).to_have_count(105)
    expect(page.get_by_role("button", name="More rooms")).to_have_count(0)  # the last page
    shots(page, "second-page")
    join_room(page, names[-1])


def test_a_cut_socket_resumes_and_shows_every_missed_message_once_in_order(
    server: Server, open_page: Callable[[str], OpenPage], shots: Shots
) -> None:
    relay = SocketRelay(server.ws_port)
    try:
        alice = open_page(server.url).page
        bob = open_page(server.url).page
        # Bob's page reaches the WebSocket through a relay the test can cut: the port
        # the server wrote into the page is swapped before the page connects (at sign-in).
        bob.locator('meta[name="wirechat-ws-port"]').evaluate(
            "(meta, port) => { meta.content = String(port) }", relay.port
        )
        alice_name, room = unique("alice"), unique("room")
        sign_up(alice, alice_name)
        sign_up(bob, unique("bob"))
        create_room(alice, room)
        join_room(bob, room)
        send(alice, "before the cut")
        expect(message(bob, "before the cut")).to_have_count(1)
        expect(bob.get_by_test_id("connection")).to_have_attribute("data-status", "connected")

        relay.cut()
        expect(bob.get_by_test_id("connection")).to_have_attribute("data-status", "reconnecting")
        burst = [f"burst {n:02d}" for n in range(1, 21)]
        for text in burst:
            send(alice, text)
        expect(message(alice, "burst 20")).to_have_count(1)
        expect(alice.get_by_test_id("outbox")).to_have_count(0)
        shots(bob, "cut-while-alice-sends")
        assert not any(t.startswith("burst") for t in message_texts(bob))

        relay.restore()
        expect(bob.get_by_test_id("connection")).to_have_attribute("data-status", "resumed")
        expect(message(bob, "burst 20")).to_have_count(1)
        bob.wait_for_timeout(500)  # anything doubled would have arrived by now
        # Alice's sends ran concurrently, so the order is the server's: the same as
        # on Alice's page, ascending ids, each text once.
        seen = message_texts(bob)
        assert seen == message_texts(alice)
        assert sorted(seen) == ["before the cut", *burst]
        ids = [
            int(i)
            for i in bob.locator("li.message").evaluate_all(
                "items => items.map(item => item.dataset.messageId)"
            )
        ]
        assert ids == sorted(set(ids))
        assert relay.connections >= 2
        shots(bob, "resumed")
    finally:
        relay.close()


def test_invalid_input_wrong_password_and_rate_limit_show_readable_errors(
    start_server: Callable[..., Server], open_page: Callable[[str], OpenPage], shots: Shots
) -> None:
    server = start_server(RATE_LIMIT_MESSAGES="3", RATE_LIMIT_WINDOW_SECONDS="30")
    name = unique("carol")
    server.call("auth.register", {"username": name, "password": PASSWORD})

    tab = open_page(server.url)
    # The browser itself logs each refused request; the page must show them as text.
    tab.console.allow(r"status of 400")
    tab.console.allow(r"status of 401")
    tab.console.allow(r"status of 429")
    page = tab.page

    sign_up(page, "ab", "short")
    expect(page.get_by_role("alert")).to_contain_text("Please check the input — username:")
    expect(page.get_by_role("alert")).to_contain_text("password:")
    shots(page, "invalid-sign-up")
    page.get_by_role("button", name="Log in").last.click()

    log_in(page, name, "not the password")
    expect(page.get_by_role("alert")).to_have_text("Sign-in failed: invalid username or password")
    shots(page, "wrong-password")

    log_in(page, name, PASSWORD)
    create_room(page, unique("busy"))
    sent = [f"message {n}" for n in range(1, 5)]
    for text in sent:
        send(page, text)
    # Three get through, in whatever order the concurrent sends were stored; the
    # fourth stays in the outbox with the reason and a Retry button.
    error = page.get_by_test_id("outbox").get_by_role("alert")
    expect(error).to_contain_text("Slow down: rate limit exceeded, retry in")
    expect(page.locator("li.message")).to_have_count(3)
    refused = page.get_by_test_id("outbox").locator(".text").inner_text()
    assert sorted([*message_texts(page), refused]) == sent
    shots(page, "rate-limited")
