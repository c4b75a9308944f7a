"""The people list by keyboard (roving tabindex) and drafts kept per conversation (issue 14)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.support.browser import unique, user_link

pytestmark = pytest.mark.e2e


def focused_in_list(page):
    return page.locator("#user-list a.user:focus")


def test_the_people_list_is_one_tab_stop_walked_with_arrow_keys(people):
    bob = people("bob").login(unique("bob"))
    carol = people("carol").login(unique("carol"))
    alice = people("alice").login(unique("alice"))
    page = alice.page
    me, b, c = (user_link(page, n) for n in (alice.username, bob.username, carol.username))
    expect(c).to_be_visible()
    expect(page.locator("#user-list a.user[tabindex='0']")).to_have_count(1)
    # The control just before the list: the message search's, shown once the socket is up.
    find = page.get_by_role("button", name="Find", exact=True)
    expect(find).to_be_visible()
    find.focus()
    page.keyboard.press("Tab")
    expect(me).to_be_focused()  # nothing open: the first row takes the stop
    page.keyboard.press("ArrowDown")
    expect(b).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(c).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(c).to_be_focused()  # the end stays the end
    page.keyboard.press("Home")
    expect(me).to_be_focused()
    page.keyboard.press("End")
    expect(c).to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(b).to_be_focused()
    # Tab leaves the list at once, not one person at a time; Shift+Tab comes back to the same row.
    page.keyboard.press("Tab")
    expect(focused_in_list(page)).to_have_count(0)
    page.keyboard.press("Shift+Tab")
    expect(b).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=2, name=bob.username)).to_be_visible()
    expect(page.get_by_label("Message", exact=True)).to_be_focused()
    expect(b).to_have_attribute("tabindex", "0")


def test_drafts_are_kept_per_conversation_across_reloads(people):
    bob = people("bob").login(unique("bob"))
    carol = people("carol").login(unique("carol"))
    alice = people("alice").login(unique("alice"), password="drafts-password")
    page = alice.page
    box = page.get_by_label("Message", exact=True)
    alice.open_chat(bob.username)
    box.fill("half a thought for Bob")
    alice.open_chat(carol.username)
    expect(box).to_have_value("")
    box.fill("for Carol")
    page.reload()
    expect(box).to_have_value("for Carol")
    alice.open_chat(bob.username)
    expect(box).to_have_value("half a thought for Bob")
    # A sent draft is gone, from this conversation only.
    box.press("Enter")
    expect(box).to_have_value("")
    page.reload()
    expect(box).to_have_value("")
    alice.open_chat(carol.username)
    expect(box).to_have_value("for Carol")
    # Logging out forgets them (a shared computer keeps nothing unsent).
    page.get_by_role("button", name="Log out").click()
    # The logout's redirect must land before the next navigation, or it interrupts it.
    expect(page.get_by_label("Username")).to_be_visible()
    alice.login(alice.username, password="drafts-password")
    alice.open_chat(carol.username)
    expect(box).to_have_value("")
