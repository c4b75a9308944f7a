"""Send pressed while a chosen file is still being stored in IndexedDB, in Chromium (issue
15): the message waits in the composer until its files are stored, so that a reload meanwhile
loses nothing unseen (the text stays, the file not stored shows a notice), and it goes out,
once, when they are."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import conversation, messages
from tests.support.files import (
    choose,
    files_on_device,
    hold_stores,
    press_send,
    release_stores,
    stored_counts,
    waiting,
)

pytestmark = pytest.mark.e2e


def outbox(page: Page):
    """The outbox as the device holds it (outbox.js), or None when empty."""
    key = "chat-outbox:" + page.locator("#app").get_attribute("data-user-id")
    return page.evaluate("(key) => localStorage.getItem(key)", key)


def test_a_reload_before_the_file_is_stored_keeps_the_message(people, server):
    alice, bob = conversation(people)
    page = alice.page
    box = page.get_by_label("Message", exact=True)
    hold_stores(page)
    box.fill("the report, attached")
    choose(page, "report.txt", "text/plain", b"numbers")
    # The click's handler has run when click() returns: the reload comes before the store.
    page.get_by_role("button", name="Send", exact=True).click()
    page.reload()

    expect(page.get_by_role("list", name="Files not kept")).to_contain_text(
        "report.txt could not be kept; choose it again."
    )
    expect(box).to_have_value("the report, attached")
    expect(box).to_be_editable()
    assert outbox(page) is None
    assert stored_counts(server.db_path, alice.user_id()) == (0, 0)

    # Chosen again, it goes with the text.
    choose(page, "report.txt", "text/plain", b"numbers")
    press_send(page)
    sent = messages(bob.page).filter(has_text="the report, attached")
    expect(sent.get_by_role("link", name=re.compile(r"^report\.txt"))).to_be_visible()
    expect(box).to_have_value("")


def test_send_waits_until_the_files_are_stored_then_sends_once(people, server):
    alice, bob = conversation(people)
    page = alice.page
    box = page.get_by_label("Message", exact=True)
    status = page.locator("#upload-status")
    hold_stores(page)
    box.fill("two files")
    choose(page, "a.txt", "text/plain", b"a")
    choose(page, "b.txt", "text/plain", b"b")
    send = page.get_by_role("button", name="Send", exact=True)
    send.click()
    expect(status).to_have_text("Sending once a.txt, b.txt are stored on this device.")
    send.click()  # pressed again while waiting: still one message
    # Nothing has left the composer, nor entered the outbox.
    expect(box).to_have_value("two files")
    expect(box).not_to_be_editable()
    expect(waiting(page).get_by_role("listitem")).to_have_count(2)
    assert outbox(page) is None

    release_stores(page)
    expect(waiting(page)).to_be_hidden()
    sent = messages(bob.page).filter(has_text="two files")
    expect(sent.get_by_role("link", name=re.compile(r"^a\.txt"))).to_be_visible()
    expect(sent.get_by_role("link", name=re.compile(r"^b\.txt"))).to_be_visible()
    expect(messages(page).locator(".state")).to_have_text([re.compile("^(Sent|Read)$")])
    expect(box).to_have_value("")
    expect(box).to_be_editable()
    assert stored_counts(server.db_path, alice.user_id()) == (1, 2)
    assert files_on_device(page) == 0
