"""axe-core (bundled with axe-playwright-python, no network) on the login and chat pages."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests.support.browser import message, shot, unique, user_link

pytestmark = pytest.mark.e2e

BLOCKING = {"serious", "critical"}


def scan(page: Page, name: str) -> list[str]:
    """Runs every axe rule on ``page``; returns 'rule (impact): n' for every violation."""
    results = Axe().run(page)
    shot(page, f"axe-{name}")
    found = [
        f"{v['id']} ({v['impact']}): {len(v['nodes'])}" for v in results.response["violations"]
    ]
    blocking = [v for v in results.response["violations"] if v["impact"] in BLOCKING]
    assert not blocking, f"{name}: " + "; ".join(
        f"{v['id']} ({v['impact']}) at {[n['target'] for n in v['nodes']]}" for v in blocking
    )
    return found


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_login_page_has_no_serious_violations(people, scheme):
    person = people("visitor", color_scheme=scheme)
    person.page.goto(person.url)
    assert scan(person.page, f"login-{scheme}") == []
    # With a validation error next to the field.
    person.page.get_by_role("button", name="Start chatting").click()
    expect(person.page.get_by_role("alert")).to_have_text("Please choose a username.")
    assert scan(person.page, f"login-error-{scheme}") == []


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_chat_page_has_no_serious_violations(people, scheme):
    alice = people("alice", color_scheme=scheme).login(unique("alice"))
    bob = people("bob").login(unique("bob"))
    carol = people("carol").login(unique("carol"))
    carol.open_chat(alice.username)
    carol.send("unread for alice")
    bob.open_chat(alice.username)
    bob.send("Hello <b>Alice</b>")
    alice.open_chat(bob.username)
    expect(message(alice.page, "Hello <b>Alice</b>")).to_be_visible()
    alice.send("A reply with a long enough text to wrap in the bubble, " * 3)
    expect(user_link(alice.page, carol.username)).to_have_accessible_name(
        f"{carol.username}, online, 1 unread"
    )
    alice.page.get_by_label("Find people").fill(bob.username[:3])
    expect(alice.page.get_by_role("list", name="Search results")).to_be_visible()
    alice.page.get_by_text("Settings", exact=True).click()
    assert scan(alice.page, f"chat-{scheme}") == []
