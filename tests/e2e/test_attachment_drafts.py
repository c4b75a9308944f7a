"""Files waiting beside the composer in Chromium (issue 15): like the text draft they survive
a reload, per conversation, until Send (each uploaded once), Remove or logout; a waiting or
queued picture shows a preview from the device, its alt text as it will be."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.support.browser import conversation, messages, unique
from tests.support.files import (
    choose,
    files_on_device,
    kept,
    loaded,
    png,
    press_send,
    stored_counts,
    waiting,
)

pytestmark = pytest.mark.e2e

# Whether a URL still shows as a picture (a revoked blob: URL does not); an <img>, as the
# page's CSP allows blob: only for images.
SHOWS = """(src) => new Promise((resolve) => {
  const img = new Image();
  img.onload = () => resolve(true);
  img.onerror = () => resolve(false);
  img.src = src;
})"""


def test_waiting_files_survive_a_reload_and_go_out_once(people, server):
    alice, bob = conversation(people)
    page = alice.page
    page.get_by_label("Message", exact=True).fill("the two files")
    choose(page, "sunset.png", "image/png", png(64, 48))
    choose(page, "report.pdf", "application/pdf", b"%PDF-1.4\n%%EOF\n")
    page.get_by_role("textbox", name="Describe this image (sunset.png)").fill("A red sky")
    kept(page, "sunset.png", "report.pdf", "A red sky")

    page.reload()
    expect(waiting(page).get_by_role("listitem")).to_have_count(2)
    expect(waiting(page)).to_contain_text("sunset.png")
    expect(waiting(page)).to_contain_text("report.pdf")
    described = page.get_by_role("textbox", name="Describe this image (sunset.png)")
    expect(described).to_have_value("A red sky")
    loaded(page, waiting(page).get_by_role("img", name="A red sky"))
    uploads = []
    page.on(
        "request",
        lambda r: uploads.append(r) if r.method == "POST" and "/api/attachments" in r.url else None,
    )

    press_send(page)
    sent = messages(bob.page).filter(has_text="the two files")
    expect(sent.get_by_role("img", name="A red sky")).to_be_visible()
    expect(sent.get_by_role("link", name=re.compile(r"^report\.pdf"))).to_be_visible()
    expect(messages(page).locator(".state")).to_have_text([re.compile("^(Sent|Read)$")])
    expect(messages(bob.page)).to_have_count(1)
    assert stored_counts(server.db_path, alice.user_id()) == (1, 2)
    assert len(uploads) == 2
    assert files_on_device(page) == 0
    # Sent files no longer wait: not after another reload either.
    page.reload()
    expect(messages(page)).to_have_count(1)
    expect(waiting(page)).to_be_hidden()


def test_a_removed_file_stays_removed(people):
    alice, _bob = conversation(people, both=False)
    page = alice.page
    choose(page, "notes.txt", "text/plain", b"notes")
    choose(page, "keep.png", "image/png", png(20, 20))
    kept(page, "notes.txt", "keep.png")
    page.get_by_role("button", name="Remove notes.txt").click()
    expect(waiting(page)).not_to_contain_text("notes.txt")

    page.reload()
    expect(waiting(page)).to_contain_text("keep.png")
    expect(waiting(page)).not_to_contain_text("notes.txt")
    assert files_on_device(page) == 1  # the removed file left the device too


def test_waiting_files_are_per_conversation_and_forgotten_on_logout(people):
    bob = people("bob").login(unique("bob"))
    carol = people("carol").login(unique("carol"))
    alice = people("alice").login(unique("alice"), password="files-password")
    page = alice.page
    alice.open_chat(bob.username)
    choose(page, "for-bob.txt", "text/plain", b"bob")
    kept(page, "for-bob.txt")
    alice.open_chat(carol.username)
    expect(waiting(page)).to_be_hidden()
    page.reload()
    expect(waiting(page)).to_be_hidden()
    alice.open_chat(bob.username)
    expect(waiting(page)).to_contain_text("for-bob.txt")

    page.get_by_role("button", name="Log out").click()
    # The logout's redirect must land before the next navigation, or it interrupts it.
    expect(page.get_by_label("Username")).to_be_visible()
    alice.login(alice.username, password="files-password")
    alice.open_chat(bob.username)
    expect(waiting(page)).to_be_hidden()
    assert files_on_device(page) == 0


def test_waiting_and_queued_pictures_show_a_preview(people):
    alice, _bob = conversation(people, both=False)
    page = alice.page
    choose(page, "sunset.png", "image/png", png(64, 48))
    preview = waiting(page).get_by_role("img", name="sunset.png")
    src = loaded(page, preview)
    # Its alt text is the picture's as it will be: the description once written.
    page.get_by_role("textbox", name="Describe this image (sunset.png)").fill("A red sky")
    expect(waiting(page).get_by_role("img", name="A red sky")).to_be_visible()
    # A file that is not a picture has none.
    choose(page, "notes.txt", "text/plain", b"notes")
    expect(waiting(page).get_by_role("img")).to_have_count(1)
    page.get_by_role("button", name="Remove sunset.png").click()
    expect(waiting(page).get_by_role("img")).to_have_count(0)
    assert page.evaluate(SHOWS, src) is False  # let go of once removed
    page.get_by_role("button", name="Remove notes.txt").click()

    # Offline, the queued message shows its picture from the device until it is uploaded.
    alice.context.set_offline(True)
    expect(page.locator("#app")).to_have_attribute("data-connection", "offline")
    choose(page, "queued.png", "image/png", png(30, 10))
    press_send(page)
    queued = messages(page)
    expect(queued.locator(".state")).to_have_text(["Waiting for connection"])
    src = loaded(page, queued.get_by_role("img", name="queued.png"))
    alice.context.set_offline(False)
    expect(queued.locator(".state")).to_have_text([re.compile("^(Sent|Read)$")])
    # The stored thumbnail took its place.
    thumb = queued.get_by_role("img", name="queued.png")
    expect(thumb).to_have_attribute("src", re.compile(r"\?thumb=1$"))
    assert page.evaluate(SHOWS, src) is False


def test_without_indexeddb_waiting_files_stay_in_the_tab(people):
    alice = people("alice")
    # A browser that refuses IndexedDB (disabled, or a private window).
    alice.context.add_init_script("Object.defineProperty(window, 'indexedDB', {value: undefined})")
    alice.login(unique("alice"))
    bob = people("bob").login(unique("bob"))
    alice.open_chat(bob.username)
    bob.open_chat(alice.username)
    page = alice.page
    choose(page, "lost.txt", "text/plain", b"lost")
    page.reload()
    # In the tab's memory only: gone with the page, and nothing claims it was kept.
    expect(waiting(page)).to_be_hidden()
    expect(page.locator("#upload-status")).to_have_text("")
    expect(page.get_by_role("list", name="Files not kept")).to_be_hidden()

    choose(page, "sunset.png", "image/png", png(64, 48))
    loaded(page, waiting(page).get_by_role("img", name="sunset.png"))
    press_send(page)
    expect(bob.page.get_by_role("log").get_by_role("img", name="sunset.png")).to_be_visible()
    expect(messages(bob.page)).to_have_count(1)


def test_another_tab_follows_the_waiting_files(people):
    alice, bob = conversation(people, both=False)
    other = alice.new_tab()
    alice.open_chat(bob.username, page=other)
    choose(alice.page, "sunset.png", "image/png", png(64, 48))
    expect(waiting(other)).to_contain_text("sunset.png")
    loaded(other, waiting(other).get_by_role("img", name="sunset.png"))
    other.get_by_role("textbox", name="Describe this image (sunset.png)").fill("A red sky")
    expect(
        alice.page.get_by_role("textbox", name="Describe this image (sunset.png)")
    ).to_have_value("A red sky")
    other.get_by_role("button", name="Remove sunset.png").click()
    expect(waiting(alice.page)).to_be_hidden()
