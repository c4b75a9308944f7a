"""The chat with JavaScript turned off: reading, sending by form, switching by link (issue 14)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import message, unique, user_link

pytestmark = pytest.mark.e2e


def login_without_script(page: Page, url: str, name: str) -> None:
    page.goto(url)
    page.get_by_label("Username").fill(name)
    page.get_by_role("button", name="Start chatting").click()
    expect(page.get_by_text(f"Signed in as {name}")).to_be_visible()


def test_a_user_without_script_sends_and_reads_and_a_live_user_sees_it(people, server):
    alice = people("alice").login(unique("alice"))
    text_mode = people("carol", java_script_enabled=False)
    carol = unique("carol")
    text_mode.username = carol
    page = text_mode.page
    login_without_script(page, server.url, carol)
    # Switching conversations: the users list is made of links.
    user_link(page, alice.username).click()
    expect(page.get_by_role("heading", level=2, name=alice.username)).to_be_visible()
    expect(page).to_have_url(re.compile(r"\?with="))

    box = page.get_by_label("Message", exact=True)
    box.fill("Hello from a text-mode browser\nsecond line")
    page.get_by_role("button", name="Send").click()
    # Stored, rendered on the next page, relayed live to the other side.
    expect(message(page, "Hello from a text-mode browser\nsecond line")).to_be_visible()
    expect(box).to_have_value("")
    # Alice had never seen Carol: the first message introduces her, live.
    alice.open_chat(carol)
    # With the conversation open, the next form post appears without any reload of hers.
    box.fill("And a second one")
    page.get_by_role("button", name="Send").click()
    expect(message(page, "And a second one")).to_be_visible()
    expect(message(alice.page, "And a second one")).to_be_visible()
    expect(message(alice.page, "Hello from a text-mode browser\nsecond line")).to_be_visible()
    expect(
        message(alice.page, "Hello from a text-mode browser\nsecond line").locator(".sender")
    ).to_have_text(carol)

    # A reload of the page the form led to does not post the message again.
    page.reload()
    expect(message(page, "Hello from a text-mode browser\nsecond line")).to_have_count(1)

    # The reply is there on the next page the text-mode user opens.
    alice.send("Got it, Carol")
    expect(message(alice.page, "Got it, Carol").locator(".state")).to_have_text("Sent")
    user_link(page, alice.username).click()
    expect(message(page, "Got it, Carol")).to_be_visible()

    # An empty message is refused with a plain error, nothing stored.
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("status").filter(has_text="Message not sent")).to_contain_text("empty")
