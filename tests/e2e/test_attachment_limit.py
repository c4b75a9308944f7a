"""The most files one message may carry, in Chromium (issue 15, PROTOCOL.md B10: 10): the
composer takes the first ones up to it, whether chosen, dropped or given back by a cancelled
upload, and its status line names those left out, so that Send never meets the server's
refusal."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from chat.attachments import MAX_PER_MESSAGE
from tests.support.browser import Uplink, conversation, messages
from tests.support.files import TEXT_BACK, choose, kept, press_send, waiting

pytestmark = pytest.mark.e2e

FULL = f"Only {MAX_PER_MESSAGE} files fit in one message; left out: "


def texts(names: list[str]) -> list[dict]:
    """Small text files called ``names``, for set_input_files."""
    return [{"name": n, "mimeType": "text/plain", "buffer": n.encode()} for n in names]


def choose_many(page: Page, names: list[str]) -> None:
    """Chooses the files ``names`` at once by the attach button."""
    page.get_by_label("Attach a file").set_input_files(texts(names))


def drop(page: Page, names: list[str]) -> None:
    """Drops small text files called ``names`` on the composer."""
    page.evaluate(
        """(names) => {
          const files = new DataTransfer();
          for (const n of names) files.items.add(new File([n], n, { type: "text/plain" }));
          const init = { dataTransfer: files, bubbles: true, cancelable: true };
          document.getElementById("composer").dispatchEvent(new DragEvent("drop", init));
        }""",
        names,
    )


def status(page: Page):
    """The composer's status line about files, as assistive technology finds it."""
    return page.get_by_role("status").filter(has_text=re.compile("Attached|Only|Upload"))


def sent_with(page: Page, names: list[str]) -> None:
    """The message on ``page`` carries the files ``names``, in order, and nothing more."""
    expect(messages(page).last.locator("li.attachment.file .file-name")).to_have_text(names)


def test_choosing_more_than_a_message_carries_keeps_the_first_ones(people):
    alice, bob = conversation(people)
    page = alice.page
    names = [f"f{i}.txt" for i in range(MAX_PER_MESSAGE + 2)]
    choose_many(page, names)
    expect(status(page)).to_contain_text(FULL + ", ".join(names[MAX_PER_MESSAGE:]) + ".")
    expect(waiting(page).get_by_role("listitem")).to_have_count(MAX_PER_MESSAGE)
    expect(waiting(page)).not_to_contain_text(names[MAX_PER_MESSAGE])
    # Room for one after a Remove: a drop of two takes the first.
    page.get_by_role("button", name="Remove f0.txt").click()
    drop(page, ["d1.txt", "d2.txt"])
    attached = "Attached d1.txt; Send sends it with your message. "
    expect(status(page)).to_have_text(attached + FULL + "d2.txt.")
    expect(waiting(page).get_by_role("listitem")).to_have_count(MAX_PER_MESSAGE)
    kept(page, "d1.txt", *names[1:MAX_PER_MESSAGE])

    press_send(page)
    sent_with(bob.page, [*names[1:MAX_PER_MESSAGE], "d1.txt"])
    expect(messages(page).locator(".state")).to_have_text([re.compile("^(Sent|Read)$")])


def test_a_cancelled_upload_leaves_out_the_files_chosen_since_that_no_longer_fit(people):
    alice, bob = conversation(people)
    page = alice.page
    uplink = Uplink(page)
    uplink.limit(10_000)  # about 10 kB/s: long enough to choose more and cancel
    page.get_by_label("Message", exact=True).fill("ten at most")
    choose(page, "slow.bin", "application/octet-stream", b"y" * 90_000)
    choose(page, "b.txt", "text/plain", b"b")
    press_send(page)
    expect(page.get_by_role("progressbar", name="Uploading slow.bin")).to_be_visible()
    later = [f"f{i}.txt" for i in range(MAX_PER_MESSAGE - 1)]
    choose_many(page, later)  # the next message's, while this one uploads
    expect(waiting(page).get_by_role("listitem")).to_have_count(len(later))

    page.get_by_role("button", name="Cancel").click()
    # The cancelled message's files come back first; the last chosen no longer fits.
    expect(waiting(page).get_by_role("listitem")).to_have_count(MAX_PER_MESSAGE)
    expect(status(page)).to_have_text(TEXT_BACK + " " + FULL + later[-1] + ".")
    expect(waiting(page)).not_to_contain_text(later[-1])
    choose_many(page, ["one-more.txt"])
    expect(status(page)).to_have_text(FULL + "one-more.txt.")
    page.reload()
    expect(waiting(page).get_by_role("listitem")).to_have_count(MAX_PER_MESSAGE)

    uplink.limit(-1)
    press_send(page)
    sent_with(bob.page, ["slow.bin", "b.txt", *later[:-1]])
    expect(messages(page).locator(".state")).to_have_text([re.compile("^(Sent|Read)$")])
