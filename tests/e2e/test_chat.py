"""Issue 3 in real Chromium: two people chat, reload, tabs, logout, XSS, keyboard, phone, dark."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import message, messages, shot, unique, user_link

pytestmark = pytest.mark.e2e


def test_both_chat_both_ways_in_real_time(people):
    alice = people("alice").login(unique("alice"))
    bob = people("bob").login(unique("bob"))
    expect(user_link(alice.page, bob.username)).to_have_accessible_name(re.compile(r", online"))
    alice.open_chat(bob.username)
    bob.open_chat(alice.username)
    alice.send("Hi Bob!")
    expect(message(bob.page, "Hi Bob!")).to_be_visible()
    expect(message(alice.page, "Hi Bob!").locator(".state")).to_have_text(re.compile("Sent|Read"))
    bob.send("Hello Alice")
    expect(message(alice.page, "Hello Alice")).to_be_visible()
    expect(messages(alice.page)).to_have_count(2)
    expect(messages(bob.page)).to_have_count(2)
    shot(alice.page, "chat-both-ways")
