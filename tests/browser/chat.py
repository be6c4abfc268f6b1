"""What a person does on the chat page, as playwright steps (the tests' vocabulary)."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

__all__ = [
    "PASSWORD",
    "create_room",
    "join_room",
    "log_in",
    "message",
    "message_texts",
    "send",
    "sign_up",
]

PASSWORD = "correct horse battery"


def sign_up(page: Page, username: str, password: str = PASSWORD) -> None:
    page.get_by_role("button", name="Create an account").click()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign up").click()


def log_in(page: Page, username: str, password: str) -> None:
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def create_room(page: Page, name: str) -> None:
    page.get_by_label("New room name").fill(name)
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.get_by_test_id("room-title")).to_have_text(name)


def join_room(page: Page, name: str) -> None:
    """Join a public room from the list (loading more pages, or refreshing it, until
    the room shows up)."""
    button = page.get_by_role("button", name=f"Join {name}", exact=True)
    more = page.get_by_role("button", name="More rooms")
    for _ in range(20):
        if button.count():
            break
        if more.count():
            more.click()
        else:
            page.get_by_role("button", name="Refresh").click()
        page.wait_for_timeout(250)
    button.click()
    expect(page.get_by_test_id("room-title")).to_have_text(name)


def send(page: Page, text: str) -> None:
    box = page.get_by_label("Message", exact=True)
    box.fill(text)
    box.press("Enter")


def message(page: Page, text: str) -> Locator:
    """The timeline entry whose text is exactly ``text``."""
    exact = re.compile(f"^{re.escape(text)}$")
    return page.locator("li.message", has=page.locator("p.text", has_text=exact))


def message_texts(page: Page) -> list[str]:
    return page.locator("li.message p.text").all_inner_texts()
