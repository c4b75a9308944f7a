"""Issue 3 in real Chromium: two people chat, reload, tabs, logout, XSS, keyboard, phone, dark."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.support.browser import message, messages, shot, unique, user_link

pytestmark = pytest.mark.e2e


def test_both_chat_both_ways_in_real_time(people):
    alice = people("alice").login(unique("alice"))
    bob = people("bob").login(unique("bob"))
    expect(user_link(alice.page, bob.username)).to_have_accessible_name(
        re.compile(r"^bob\d+, online$")
    )
    alice.open_chat(bob.username)
    bob.open_chat(alice.username)
    alice.send("Hi Bob!")
    expect(message(bob.page, "Hi Bob!")).to_be_visible()
    expect(message(bob.page, "Hi Bob!").locator(".sender")).to_have_text(alice.username)
    bob.send("Hello Alice")
    expect(message(alice.page, "Hello Alice")).to_be_visible()
    expect(messages(alice.page)).to_have_count(2)
    expect(messages(bob.page)).to_have_count(2)
    # Each message shows its time as a <time datetime> in local time.
    stamp = message(alice.page, "Hello Alice").locator("time")
    expect(stamp).to_have_attribute("datetime", re.compile(r"^\d{4}-\d\d-\d\dT.*Z$"))
    expect(stamp).to_have_text(re.compile(r"\d"))
    shot(alice.page, "chat-both-ways")


def test_reload_keeps_session_history_and_unread_counts(people):
    alice = people("alice").login(unique("alice"))
    bob = people("bob").login(unique("bob"))
    alice.open_chat(bob.username)
    alice.send("first")
    alice.send("second")
    link = user_link(bob.page, alice.username)
    expect(link).to_have_accessible_name(re.compile(r", online, 2 unread$"))
    expect(bob.page).to_have_title("(2) Private chat")
    bob.page.reload()
    expect(user_link(bob.page, alice.username)).to_have_accessible_name(re.compile(r", 2 unread$"))
    alice.page.reload()
    expect(alice.page).to_have_url(re.compile(r"\?with="))
    expect(messages(alice.page)).to_have_text([re.compile("first"), re.compile("second")])
    bob.open_chat(alice.username)
    expect(messages(bob.page)).to_have_count(2)
    expect(bob.page).to_have_title("Private chat")
    bob.page.reload()
    expect(messages(bob.page)).to_have_count(2)
    expect(user_link(bob.page, alice.username)).to_have_accessible_name(re.compile(r", online$"))


def test_message_to_logged_out_user_appears_when_they_come_back(people):
    bob = people("bob")
    bob.login(unique("bob"), password="correct horse")
    second = bob.new_tab()
    alice = people("alice").login(unique("alice"))
    bob.page.get_by_role("button", name="Log out").click()
    expect(bob.page.get_by_label("Username")).to_be_visible()
    # Logging out ends the session in every tab, not just this one.
    expect(second.get_by_label("Username")).to_be_visible()
    expect(user_link(alice.page, bob.username)).to_have_accessible_name(
        re.compile(r", last seen just now$")
    )
    alice.open_chat(bob.username)
    alice.send("Are you there?")
    expect(message(alice.page, "Are you there?").locator(".state")).to_have_text("Sent")
    bob.login(bob.username, password="correct horse")
    expect(user_link(bob.page, alice.username)).to_have_accessible_name(re.compile(r", 1 unread$"))
    bob.open_chat(alice.username)
    expect(message(bob.page, "Are you there?")).to_be_visible()
    expect(message(alice.page, "Are you there?").locator(".state")).to_have_text("Read")


def test_second_tab_shows_messages_sent_from_the_first(people):
    alice = people("alice").login(unique("alice"))
    bob = people("bob").login(unique("bob"))
    alice.open_chat(bob.username)
    other_tab = alice.new_tab()
    alice.open_chat(bob.username, page=other_tab)
    alice.send("sent from tab one")
    expect(message(other_tab, "sent from tab one")).to_be_visible()
    expect(message(other_tab, "sent from tab one").locator(".state")).to_have_text("Sent")
    alice.send("and a reply from tab two", page=other_tab)
    expect(message(alice.page, "and a reply from tab two")).to_be_visible()
    expect(messages(alice.page)).to_have_count(2)
    expect(messages(other_tab)).to_have_count(2)
    bob.open_chat(alice.username)
    expect(messages(bob.page)).to_have_count(2)


def test_markup_in_a_message_is_shown_as_text_and_runs_nothing(people):
    payload = "<img src=x onerror=alert(1)>"
    mallory = people("mallory").login(unique("mallory"))
    bob = people("bob").login(unique("bob"))
    mallory.open_chat(bob.username)
    bob.open_chat(mallory.username)
    mallory.send(payload)
    expect(message(bob.page, payload)).to_have_count(1)
    expect(bob.page.get_by_role("log").locator("img")).to_have_count(0)
    bob.page.reload()  # the server-rendered first paint escapes it too
    expect(message(bob.page, payload)).to_have_count(1)
    expect(bob.page.get_by_role("log").locator("img")).to_have_count(0)
    assert bob.dialogs == [] and mallory.dialogs == []


def test_whole_flow_with_the_keyboard_only(people):
    alice = people("alice")
    bob = people("bob").login(unique("bob"))
    alice.username = unique("alice")
    page = alice.page
    page.goto(alice.url)
    expect(page.get_by_label("Username")).to_be_focused()  # autofocus
    page.keyboard.type(alice.username)
    page.keyboard.press("Enter")
    link = user_link(page, bob.username)
    expect(link).to_be_visible()
    tab_to_person(page, link)
    page.keyboard.press("Enter")
    composer = page.get_by_label("Message", exact=True)
    expect(composer).to_be_focused()
    page.keyboard.type("line one")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("line two")
    page.keyboard.press("Enter")
    sent = message(page, "line one\nline two")
    expect(sent.locator(".state")).to_have_text("Sent")
    expect(composer).to_be_focused()
    # Bob, also by keyboard, opens the unread conversation and reads it.
    back = user_link(bob.page, alice.username)
    expect(back).to_have_accessible_name(re.compile(r", 1 unread$"))
    tab_to_person(bob.page, back)
    bob.page.keyboard.press("Enter")
    expect(message(bob.page, "line one\nline two")).to_be_visible()
    expect(bob.page.get_by_label("Message", exact=True)).to_be_focused()
    expect(sent.locator(".state")).to_have_text("Read")


def tab_to_person(page, link, limit: int = 40) -> None:
    """Tabs into the people list (one Tab stop), then walks it with the Down arrow to ``link``."""
    tab_to(page, page.locator("#user-list a.user[tabindex='0']"), limit)
    target = link.element_handle()
    for _ in range(limit):
        if page.evaluate("(el) => document.activeElement === el", target):
            return
        page.keyboard.press("ArrowDown")
    raise AssertionError(f"{link} never got focus with the Down arrow")


def tab_to(page, locator, limit: int = 40) -> None:
    """Presses Tab until ``locator`` has focus; fails after ``limit`` presses."""
    target = locator.element_handle()
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(el) => document.activeElement === el", target):
            return
    raise AssertionError(f"{locator} never got focus with Tab")


def test_phone_size_shows_list_and_conversation_separately(people):
    phone = {"viewport": {"width": 390, "height": 780}, "is_mobile": True, "has_touch": True}
    alice = people("alice", **phone).login(unique("alice"))
    bob = people("bob").login(unique("bob"))
    page = alice.page
    users_nav = page.get_by_role("navigation", name="People")
    conversation = page.get_by_role("main")
    expect(users_nav).to_be_visible()
    expect(conversation).to_be_hidden()
    shot(page, "phone-list")
    user_link(page, bob.username).tap()
    expect(conversation).to_be_visible()
    expect(users_nav).to_be_hidden()
    bob.open_chat(alice.username)
    bob.send("hello phone")
    expect(message(page, "hello phone")).to_be_visible()
    alice.send("hello desk")
    shot(page, "phone-conversation")
    page.get_by_role("link", name="Back to people").tap()
    expect(users_nav).to_be_visible()
    expect(conversation).to_be_hidden()
    expect(user_link(page, bob.username)).to_be_focused()
    # The browser's back button works the same way.
    user_link(page, bob.username).tap()
    expect(conversation).to_be_visible()
    page.go_back()
    expect(users_nav).to_be_visible()
    expect(conversation).to_be_hidden()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_dark_theme_follows_the_system(people):
    alice = people("alice", color_scheme="dark").login(unique("alice"))
    bob = people("bob").login(unique("bob"))
    alice.open_chat(bob.username)
    alice.send("dark mode message")
    bob.open_chat(alice.username)
    bob.send("light mode reply")
    expect(message(alice.page, "light mode reply")).to_be_visible()
    expect(alice.page.locator("body")).to_have_css("background-color", "rgb(15, 18, 22)")
    expect(bob.page.locator("body")).to_have_css("background-color", "rgb(255, 255, 255)")
    expect(message(alice.page, "light mode reply")).to_have_css("color", "rgb(230, 232, 235)")
    shot(alice.page, "dark-theme")
