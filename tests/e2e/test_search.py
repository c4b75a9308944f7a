"""People outside a capped users list: found by search, or added when they write first."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.support.browser import message, unique, user_link
from tests.support.peer import Peer

pytestmark = pytest.mark.e2e

# Oneself and one other: everyone else must be found or must write first.
SERVER_ENV = {"USERS_LIST_LIMIT": "2"}


def test_search_finds_someone_outside_the_list_who_then_appears_for_the_other(people, server):
    filler = Peer(server.url, transports=["websocket"], username=unique("aaa"))
    filler.close()
    filler_name = filler.wait_for("users")[0]["username"]
    amy = people("amy").login(unique("amy"))
    zed = people("zed").login(unique("zed"))
    # Amy's full list holds herself and the filler (nobody else was online when she came),
    # and stays so when Zed connects: a full list does not grow with arrivals.
    expect(amy.page.locator("#user-list li")).to_have_count(2)
    expect(user_link(amy.page, filler_name)).to_be_visible()
    expect(user_link(amy.page, zed.username)).to_have_count(0)
    search = amy.page.get_by_label("Find people")
    search.fill(zed.username.upper())
    results = amy.page.get_by_role("list", name="Search results")
    expect(amy.page.get_by_role("status").filter(has_text="1 person found")).to_be_visible()
    results.get_by_role("link", name=re.compile("^" + zed.username)).click()
    expect(amy.page.get_by_role("heading", level=2, name=zed.username)).to_be_visible()
    expect(amy.page.get_by_text("No messages yet. Say hello!")).to_be_visible()
    expect(user_link(amy.page, zed.username)).to_be_visible()
    expect(results).to_be_hidden()
    amy.send("found you through search")
    # Zed's page learns Amy's name from the API and lists her with the unread message.
    link = user_link(zed.page, amy.username)
    expect(link).to_have_accessible_name(re.compile(r", online, 1 unread$"))
    link.click()
    expect(message(zed.page, "found you through search")).to_be_visible()
    expect(message(amy.page, "found you through search").locator(".state")).to_have_text("Read")
    # A reload keeps the open conversation even though the list does not hold it.
    amy.page.reload()
    expect(amy.page.get_by_role("heading", level=2, name=zed.username)).to_be_visible()
    expect(message(amy.page, "found you through search")).to_be_visible()


def test_search_reports_when_nobody_matches(people):
    amy = people("amy").login(unique("amy"))
    amy.page.get_by_label("Find people").fill("no-such-person")
    expect(amy.page.get_by_role("status").filter(has_text="Nobody found")).to_be_visible()
    expect(amy.page.get_by_role("list", name="Search results")).to_be_hidden()
    amy.page.get_by_label("Find people").press("Escape")
    expect(amy.page.get_by_label("Find people")).to_have_value("")
    expect(amy.page.locator("#search-status")).to_have_text("")
