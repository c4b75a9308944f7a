"""Editing, deleting and blocking in Chromium, across both people's tabs (issue 14).

Needs the server side of PROTOCOL.md B7-B8 (branch p2-features)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.support.browser import message, unique

pytestmark = pytest.mark.e2e


def test_edit_from_the_menu_and_with_up_reaches_every_tab(people):
    alice = people("alice").login(unique("alice"))
    bob = people("bob").login(unique("bob"))
    alice.open_chat(bob.username)
    bob.open_chat(alice.username)
    second = alice.new_tab()
    alice.open_chat(bob.username, page=second)
    alice.send("helo")
    expect(message(bob.page, "helo")).to_be_visible()

    page = alice.page
    mine = message(page, "helo")
    mine.get_by_role("button", name="Message actions").click()
    expect(mine.get_by_role("menuitem", name="Edit")).to_be_focused()
    page.keyboard.press("Enter")
    box = page.get_by_label("Message", exact=True)
    expect(box).to_have_value("helo")
    box.fill("hello")
    box.press("Enter")
    for p in (page, second, bob.page):
        edited = message(p, "hello")
        expect(edited).to_be_visible()
        expect(edited).to_contain_text("edited")
        expect(edited.locator(".edited")).to_have_attribute("title", re.compile(r"^edited \d"))
    expect(message(bob.page, "helo")).to_have_count(0)
    expect(box).to_have_value("")

    # Up in an empty composer edits the last own message; Esc gives the draft back.
    box.press("ArrowUp")
    expect(box).to_have_value("hello")
    box.press("Escape")
    expect(box).to_have_value("")
    box.press("ArrowUp")
    box.fill("hello, Bob")
    box.press("Enter")
    expect(message(bob.page, "hello, Bob")).to_be_visible()
    bob.page.reload()  # the stored state, not only the live event
    expect(message(bob.page, "hello, Bob")).to_contain_text("edited")
    # Others' messages have no menu.
    expect(
        message(bob.page, "hello, Bob").get_by_role("button", name="Message actions")
    ).to_have_count(0)


def test_delete_asks_first_then_the_message_leaves_both_people_s_tabs(people):
    alice = people("alice").login(unique("alice"))
    bob = people("bob").login(unique("bob"))
    alice.open_chat(bob.username)
    bob.open_chat(alice.username)
    second = bob.new_tab()
    bob.open_chat(alice.username, page=second)
    alice.send("oops, wrong chat")
    alice.send("this one stays")
    for p in (bob.page, second):
        expect(message(p, "oops, wrong chat")).to_be_visible()
    page = alice.page
    doomed = message(page, "oops, wrong chat")
    doomed.get_by_role("button", name="Message actions").click()
    doomed.get_by_role("menuitem", name="Delete").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Delete for everyone?")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(doomed).to_be_visible()
    doomed.get_by_role("button", name="Message actions").click()
    doomed.get_by_role("menuitem", name="Delete").click()
    page.get_by_role("button", name="Delete for everyone").click()
    for p in (page, bob.page, second):
        expect(message(p, "oops, wrong chat")).to_have_count(0)
        expect(message(p, "this one stays")).to_be_visible()
    bob.page.reload()
    expect(message(bob.page, "this one stays")).to_be_visible()
    expect(message(bob.page, "oops, wrong chat")).to_have_count(0)


def test_blocking_from_both_sides_and_unblocking_from_settings(people):
    alice = people("alice").login(unique("alice"))
    bob = people("bob").login(unique("bob"))
    alice.open_chat(bob.username)
    bob.open_chat(alice.username)
    alice.page.get_by_role("button", name="Block").click()
    note = alice.page.locator("#block-note")
    expect(note).to_have_text(re.compile(rf"^You blocked {bob.username}\."))
    box = alice.page.get_by_label("Message", exact=True)
    expect(box).to_be_disabled()
    expect(box).to_have_accessible_description(re.compile(f"You blocked {bob.username}"))
    expect(alice.page.get_by_role("button", name="Unblock")).to_be_visible()

    # Bob's message is refused, and his page says so plainly.
    bob.send("are you there?")
    expect(message(bob.page, "are you there?").locator(".state")).to_contain_text("Not sent")
    expect(bob.page.locator("#block-note")).to_have_text(
        f"{alice.username} is not accepting messages from you."
    )
    expect(bob.page.get_by_label("Message", exact=True)).to_be_disabled()
    expect(message(alice.page, "are you there?")).to_have_count(0)

    # Alice unblocks from Settings, which lists the people she blocked.
    alice.page.get_by_text("Settings", exact=True).click()
    blocked = alice.page.get_by_role("list", name="Blocked people")
    expect(blocked).to_contain_text(bob.username)
    blocked.get_by_role("button", name=f"Unblock {bob.username}").click()
    expect(alice.page.locator("#blocked-setting")).to_be_hidden()
    expect(alice.page.get_by_role("button", name="Block")).to_be_visible()
    expect(box).to_be_enabled()
    alice.send("unblocked, go ahead")
    expect(message(bob.page, "unblocked, go ahead")).to_be_visible()
