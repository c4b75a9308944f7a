"""The account page in Chromium: password, download, deleting the account (issue 14)."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.support.browser import message, unique, user_link

pytestmark = pytest.mark.e2e


def test_password_download_and_deletion_from_settings(people):
    bob = people("bob").login(unique("bob"))
    alice = people("alice").login(unique("alice"))
    page = alice.page
    alice.open_chat(bob.username)
    alice.send("before I go")
    page.get_by_text("Settings", exact=True).click()
    page.get_by_role("link", name="Account: password, your data, deleting it").click()
    expect(page.get_by_role("heading", level=1, name="Your account")).to_be_visible()

    page.get_by_label("New password", exact=True).fill("a-good-password")
    page.get_by_label("New password again").fill("a-good-password")
    page.get_by_role("button", name="Save password").click()
    expect(page.get_by_role("status")).to_contain_text("Password saved")
    expect(page.get_by_label("Current password")).to_be_visible()

    with page.expect_download() as download:
        page.get_by_role("link", name="Download your data").click()
    data = json.loads(download.value.path().read_text(encoding="utf-8"))
    assert [c["with"]["username"] for c in data["conversations"]] == [bob.username]
    assert [m["content"] for m in data["conversations"][0]["messages"]] == ["before I go"]

    page.get_by_label("Type your username to confirm").fill(bob.username)
    page.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_role("alert")).to_have_text(f"Type {alice.username} to confirm.")
    page.get_by_label("Type your username to confirm").fill(alice.username)
    page.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_role("status")).to_have_text("Your account was deleted.")
    expect(page.get_by_role("button", name="Start chatting")).to_be_visible()
    # Bob keeps the message, now from "deleted user", after his next reload.
    bob.page.reload()
    expect(user_link(bob.page, "deleted user")).to_be_visible()
    bob.open_chat("deleted user")
    expect(message(bob.page, "before I go")).to_be_visible()
