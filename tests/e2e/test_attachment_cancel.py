"""Cancel during an upload in Chromium (issue 15): the message is taken back, its text into
its conversation's draft (before what was typed since) and its files beside the composer,
previews and all, through a reload; Send sends them again without uploading twice what the
server already has."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.support.browser import Uplink, conversation, messages, unique
from tests.support.files import (
    TEXT_BACK,
    choose,
    files_on_device,
    hold_stores,
    kept,
    loaded,
    png,
    press_send,
    release_stores,
    stored_counts,
    waiting,
)

pytestmark = pytest.mark.e2e


def uploads_of(page: Page) -> list:
    """The upload requests (POST /api/attachments) ``page`` makes from now on."""
    seen: list = []
    page.on(
        "request",
        lambda r: seen.append(r) if r.method == "POST" and "/api/attachments" in r.url else None,
    )
    return seen


def uploading(page: Page, name: str) -> None:
    """Waits until the upload of ``name`` is under way."""
    expect(page.get_by_role("progressbar", name="Uploading " + name)).to_be_visible()


def send_slowly(page: Page, text: str) -> Locator:
    """Sends ``text`` with slow.bin on a throttled uplink, until its upload is under way;
    the composer."""
    Uplink(page).limit(10_000)
    box = page.get_by_label("Message", exact=True)
    box.fill(text)
    choose(page, "slow.bin", "application/octet-stream", b"y" * 90_000)
    press_send(page)
    uploading(page, "slow.bin")
    return box


def cancel_the_upload_of(page: Page, name: str, status: str = "Upload cancelled.") -> None:
    """Waits for the upload of ``name``, presses Cancel and sees ``status`` said."""
    uploading(page, name)
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator("#upload-status")).to_have_text(status)


def test_a_cancelled_upload_gives_its_files_back(people, server):
    alice, bob = conversation(people)
    page = alice.page
    uplink = Uplink(page)
    # About 10 kB/s: the picture goes in a moment, the 90 kB file long enough to cancel it.
    uplink.limit(10_000)
    box = page.get_by_label("Message", exact=True)
    box.fill("the slow one")
    choose(page, "sunset.png", "image/png", png(64, 48))
    choose(page, "slow.bin", "application/octet-stream", b"y" * 90_000)
    first_round = uploads_of(page)
    press_send(page)
    cancel_the_upload_of(page, "slow.bin", TEXT_BACK)
    expect(messages(page)).to_have_count(0)
    assert len(first_round) == 2  # the picture was uploaded before Cancel
    expect(box).to_have_value("the slow one")
    expect(waiting(page).get_by_role("listitem")).to_have_count(2)
    expect(waiting(page)).to_contain_text("slow.bin")
    loaded(page, waiting(page).get_by_role("img", name="sunset.png"))
    kept(page, "sunset.png", "slow.bin")

    page.reload()
    expect(waiting(page).get_by_role("listitem")).to_have_count(2)
    expect(waiting(page)).to_contain_text("slow.bin")
    loaded(page, waiting(page).get_by_role("img", name="sunset.png"))
    expect(box).to_have_value("the slow one")
    uplink.limit(-1)
    second_round = uploads_of(page)

    press_send(page)
    sent = messages(bob.page).filter(has_text="the slow one")
    expect(sent.get_by_role("img", name="sunset.png")).to_be_visible()
    expect(sent.get_by_role("link", name=re.compile(r"^slow\.bin"))).to_be_visible()
    expect(messages(page).locator(".state")).to_have_text([re.compile("^(Sent|Read)$")])
    # Only the file the server did not have went up again, under its idempotency key.
    assert len(second_round) == 1
    assert re.fullmatch(r"[!-~]{1,200}", second_round[0].headers["idempotency-key"])
    assert stored_counts(server.db_path, alice.user_id()) == (1, 2)
    assert files_on_device(page) == 0


def test_a_description_changed_after_cancel_goes_with_a_new_upload(people):
    alice, bob = conversation(people)
    page = alice.page
    uplink = Uplink(page)
    uplink.limit(10_000)
    choose(page, "sunset.png", "image/png", png(64, 48))
    page.get_by_role("textbox", name="Describe this image (sunset.png)").fill("A red sky")
    choose(page, "slow.bin", "application/octet-stream", b"y" * 90_000)
    press_send(page)
    cancel_the_upload_of(page, "slow.bin")
    expect(messages(page)).to_have_count(0)
    described = page.get_by_role("textbox", name="Describe this image (sunset.png)")
    expect(described).to_have_value("A red sky")
    # The picture the server has says "A red sky": another description needs another upload.
    described.fill("A red sky at dusk")
    page.get_by_role("button", name="Remove slow.bin").click()
    uplink.limit(-1)
    again = uploads_of(page)
    press_send(page)
    sent = messages(bob.page)
    expect(sent.get_by_role("img", name="A red sky at dusk")).to_be_visible()
    expect(sent).to_have_count(1)
    assert len(again) == 1


def test_text_typed_during_the_upload_follows_the_cancelled_text(people):
    alice, _bob = conversation(people, both=False)
    page = alice.page
    box = send_slowly(page, "the slow one")
    box.fill("the next one")
    cancel_the_upload_of(page, "slow.bin", TEXT_BACK)
    # Neither text is lost: the cancelled one first, as it was written first.
    expect(box).to_have_value("the slow one\nthe next one")
    page.reload()
    expect(box).to_have_value("the slow one\nthe next one")
    expect(waiting(page)).to_contain_text("slow.bin")


def test_a_cancelled_text_waits_in_its_own_conversation(people):
    alice, bob = conversation(people, both=False)
    carol = people("carol").login(unique("carol"))
    page = alice.page
    box = send_slowly(page, "for bob")
    alice.open_chat(carol.username)
    box.fill("for carol")
    cancel_the_upload_of(page, "slow.bin", TEXT_BACK)
    expect(box).to_have_value("for carol")
    alice.open_chat(bob.username)
    expect(box).to_have_value("for bob")
    expect(waiting(page)).to_contain_text("slow.bin")


def test_a_cancelled_text_waits_behind_an_edit(people):
    alice, _bob = conversation(people, both=False)
    page = alice.page
    alice.send("hello")
    expect(messages(page).locator(".state")).to_have_text([re.compile("^(Sent|Read)$")])
    box = send_slowly(page, "the slow one")
    box.press("ArrowUp")  # edits "hello"
    expect(box).to_have_value("hello")
    cancel_the_upload_of(page, "slow.bin", TEXT_BACK)
    # The edit keeps the composer; the draft it hides, shown when it ends, has the text.
    expect(box).to_have_value("hello")
    box.press("Escape")
    expect(box).to_have_value("the slow one")


def test_a_text_cancelled_while_send_waits_for_storing_comes_back_after_it(people):
    alice, bob = conversation(people)
    page = alice.page
    box = send_slowly(page, "the slow one")
    # The next message's Send takes the composer's text and waits for its file to be stored.
    hold_stores(page)
    box.fill("the next one")
    choose(page, "notes.txt", "text/plain", b"notes")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.locator("#upload-status")).to_have_text(re.compile("^Sending once notes.txt"))
    cancel_the_upload_of(page, "slow.bin", TEXT_BACK)
    release_stores(page)
    expect(messages(bob.page).filter(has_text="the next one")).to_have_count(1)
    expect(box).to_have_value("the slow one")
    page.reload()
    expect(box).to_have_value("the slow one")
