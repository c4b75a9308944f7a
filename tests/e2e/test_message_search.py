"""Message search in Chromium: highlighted matches, scope, jumping to an old message (issue 14)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.support.browser import HISTORY_PAGE, message, unique

pytestmark = pytest.mark.e2e


def test_search_highlights_as_text_and_jumps_into_old_history(people):
    alice = people("alice").login(unique("alice"))
    bob = people("bob").login(unique("bob"))
    carol = people("carol").login(unique("carol"))
    alice.open_chat(bob.username)
    alice.send("the <b>zebra</b> crossing is old news")
    # Push it well past the first page, so that jumping must load history.
    for i in range(HISTORY_PAGE * 2):
        alice.send(f"filler {i}")
    alice.open_chat(carol.username)
    alice.send("zebras at the zoo")
    # Sent one at a time, in order: once the last is stored, all are (a reload before that
    # leaves them in the outbox, and the search would not find them yet).
    expect(message(alice.page, "zebras at the zoo").locator(".state")).to_have_text("Sent")
    alice.page.reload()
    alice.open_chat(carol.username)

    page = alice.page
    box = page.get_by_role("searchbox", name="Search messages")
    box.fill("zeb")
    found = page.get_by_role("list", name="Messages found").get_by_role("link")
    expect(found).to_have_count(2)
    expect(page.locator("#message-search-status")).to_have_text("2 messages found")
    # The match is marked around text: the content's markup stays text.
    first = found.filter(has_text="crossing")
    expect(first.locator("mark")).to_have_text("zeb")
    expect(first.locator(".hit-content")).to_have_text("the <b>zebra</b> crossing is old news")
    expect(first.locator("b")).to_have_count(0)

    page.get_by_label("Only the open conversation").check()
    expect(found).to_have_count(1)
    expect(found.first).to_contain_text("zebras at the zoo")
    page.get_by_label("Only the open conversation").uncheck()
    expect(found).to_have_count(2)

    first.click()
    expect(page.get_by_role("heading", level=2, name=bob.username)).to_be_visible()
    target = message(page, "the <b>zebra</b> crossing is old news")
    expect(target).to_be_focused()
    expect(target).to_be_in_viewport()
    # The history in between is loaded, without a gap.
    expect(message(page, "filler 0")).to_have_count(1)
    expect(message(page, f"filler {HISTORY_PAGE * 2 - 1}")).to_have_count(1)
