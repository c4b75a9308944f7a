"""Others' status as the page shows it, and while the page itself is cut off (issue 13)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.support.browser import connected, unique, user_link

pytestmark = pytest.mark.e2e


def test_status_is_unknown_while_the_page_is_offline_then_live_again(people):
    alice = people("alice").login(unique("alice"))
    carol = people("carol").login(unique("carol"))
    dave = people("dave").login(unique("dave"))
    carol_link = user_link(alice.page, carol.username)
    dave_link = user_link(alice.page, dave.username)
    expect(carol_link).to_have_accessible_name(f"{carol.username}, online")
    expect(dave_link).to_have_accessible_name(f"{dave.username}, online")
    alice.open_chat(carol.username)
    peer_status = alice.page.locator("#peer-status")
    expect(peer_status).to_have_text("online")

    alice.context.set_offline(True)
    expect(alice.page.get_by_role("status").filter(has_text="Connection lost")).to_be_visible()
    # What the page last knew may no longer be true: it does not claim it.
    expect(carol_link).to_have_accessible_name(f"{carol.username}, status unknown")
    expect(carol_link.locator(".status")).to_have_class("status unknown")
    expect(peer_status).to_have_text("status unknown")
    expect(user_link(alice.page, alice.username)).to_have_accessible_name(
        f"{alice.username} (you), offline"
    )
    # Meanwhile dave leaves; alice cannot hear it.
    dave.page.get_by_role("button", name="Log out").click()
    expect(dave.page.get_by_label("Username")).to_be_visible()

    alice.context.set_offline(False)
    connected(alice.page)
    # The `users` list on reconnecting brings live status back, including what changed.
    expect(carol_link).to_have_accessible_name(f"{carol.username}, online")
    expect(carol_link.locator(".status")).to_have_class("status online")
    expect(peer_status).to_have_text("online")
    expect(dave_link).to_have_accessible_name(re.compile(r", last seen just now$"))
    expect(user_link(alice.page, alice.username)).to_have_accessible_name(
        f"{alice.username} (you), online"
    )
