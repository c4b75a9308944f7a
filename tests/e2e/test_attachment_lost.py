"""A chosen file this device could not keep, in Chromium (issue 15): listed beside the
composer but not in IndexedDB (chosen a split second before a reload, or evicted since), it
shows a notice until dismissed, never disappearing unseen; one IndexedDB did store comes back."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import conversation
from tests.support.files import choose, kept, loaded, png, waiting

pytestmark = pytest.mark.e2e

NOTICE = "photo.jpg could not be kept; choose it again."


def notices(page: Page):
    """The notices of files not kept, beside the composer."""
    return page.get_by_role("list", name="Files not kept")


def listed(page: Page) -> dict:
    """The waiting files' list on the device (drafts.js), per conversation."""
    key = "chat-draft-files:" + page.locator("#app").get_attribute("data-user-id")
    return json.loads(page.evaluate("(key) => localStorage.getItem(key) || '{}'", key))


def write_listed(page: Page, peer_id: str, files: list[dict]) -> None:
    """Writes the waiting files' list of the conversation with ``peer_id`` directly."""
    key = "chat-draft-files:" + page.locator("#app").get_attribute("data-user-id")
    page.evaluate(
        "([key, all]) => localStorage.setItem(key, all)",
        [key, json.dumps({peer_id: files})],
    )


@pytest.mark.parametrize(
    "state",
    [{"state": "storing"}, {}],
    ids=["listed-while-being-stored", "listed-as-stored"],
)
def test_a_listed_file_missing_from_the_device_shows_a_notice_until_dismissed(people, state):
    alice, bob = conversation(people, both=False)
    page = alice.page
    photo = {"key": "no-such-file", "name": "photo.jpg", "type": "image/jpeg", "size": 2048}
    write_listed(page, bob.user_id(), [{**photo, "alt": "", **state}])

    page.reload()
    expect(notices(page)).to_have_text(NOTICE + " Dismiss")
    expect(waiting(page)).to_be_hidden()
    page.reload()  # still there: nothing drops it but the user
    expect(notices(page).get_by_role("listitem")).to_have_count(1)
    expect(notices(page)).to_contain_text(NOTICE)

    page.get_by_role("button", name="Dismiss the notice about photo.jpg").click()
    expect(notices(page)).to_be_hidden()
    expect(page.get_by_label("Message", exact=True)).to_be_focused()
    assert listed(page) == {}
    page.reload()
    expect(page.get_by_role("heading", level=2, name=bob.username)).to_be_visible()
    expect(notices(page)).to_be_hidden()


def test_a_notice_is_per_conversation(people):
    alice, bob = conversation(people, both=False)
    page = alice.page
    photo = {"key": "no-such-file", "name": "photo.jpg", "type": "image/jpeg", "size": 2048}
    write_listed(page, bob.user_id(), [{**photo, "alt": "", "state": "storing"}])
    page.reload()
    expect(notices(page)).to_contain_text(NOTICE)
    alice.open_chat(alice.username)  # her notes to herself
    expect(notices(page)).to_be_hidden()
    alice.open_chat(bob.username)
    expect(notices(page)).to_contain_text(NOTICE)


def test_a_file_stored_before_the_page_went_away_comes_back(people):
    alice, bob = conversation(people, both=False)
    page = alice.page
    choose(page, "sunset.png", "image/png", png(64, 48))
    kept(page, "sunset.png")
    # As if the page went away after IndexedDB stored the file, before it said so.
    files = listed(page)[bob.user_id()]
    write_listed(page, bob.user_id(), [{**f, "state": "storing"} for f in files])

    page.reload()
    loaded(page, waiting(page).get_by_role("img", name="sunset.png"))
    kept(page, "sunset.png")
    expect(notices(page)).to_be_hidden()
