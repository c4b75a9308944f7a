"""An image's alt text in Chromium (issue 15): the file name unless the sender describes the
picture before sending, by keyboard; an attachment-only message shows each name once."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.support.browser import messages, unique
from tests.support.files import attach_and_send, choose, png

pytestmark = pytest.mark.e2e


def test_the_sender_describes_a_picture_or_its_name_is_the_alt(people):
    alice = people("alice").login(unique("alice"))
    bob = people("bob").login(unique("bob"))
    alice.open_chat(bob.username)
    bob.open_chat(alice.username)

    choose(alice.page, "IMG_2231.png", "image/png", png(64, 48))
    field = alice.page.get_by_role("textbox", name="Describe this image (IMG_2231.png)")
    expect(field).to_have_attribute("placeholder", "IMG_2231.png")
    serious = [
        v["id"]
        for v in Axe().run(alice.page).response["violations"]
        if v["impact"] in {"serious", "critical"}
    ]
    assert serious == []
    field.focus()
    alice.page.keyboard.type("A red sky over the sea")
    alice.page.keyboard.press("Enter")  # Enter in the field sends, as in the message box
    described = bob.page.get_by_role("log").get_by_role("img", name="A red sky over the sea")
    expect(described).to_be_visible()

    attach_and_send(alice.page, "plain.png", "image/png", png(20, 20))
    expect(bob.page.get_by_role("log").get_by_role("img", name="plain.png")).to_be_visible()

    # The first paint says the same.
    bob.page.reload()
    expect(described).to_be_visible()
    expect(bob.page.get_by_role("log").get_by_role("img", name="plain.png")).to_be_visible()


def test_an_attachment_only_message_shows_each_name_once(people):
    alice = people("alice").login(unique("alice"))
    bob = people("bob").login(unique("bob"))
    alice.open_chat(bob.username)
    bob.open_chat(alice.username)
    attach_and_send(alice.page, "report.pdf", "application/pdf", b"%PDF-1.4\n%%EOF\n")
    alice.page.get_by_label("Message", exact=True).fill("and the notes")
    attach_and_send(alice.page, "notes.txt", "text/plain", b"notes")

    for page in (alice.page, bob.page):
        expect(messages(page)).to_have_count(2)
        first, second = messages(page).nth(0), messages(page).nth(1)
        expect(first.locator(".content")).to_be_hidden()
        expect(first).to_contain_text("report.pdf")
        expect(second.locator(".content")).to_have_text("and the notes")
        # The stored content of the first is its file name (for clients ignoring files):
        # written once, in its link.
        expect(first.get_by_text("report.pdf")).to_have_count(1)
    bob.page.reload()
    first = messages(bob.page).nth(0)
    expect(first.locator(".content")).to_be_hidden()
    expect(first.get_by_text("report.pdf")).to_have_count(1)
    expect(messages(bob.page).nth(1).locator(".content")).to_have_text("and the notes")
