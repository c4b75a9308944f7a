"""Attachments in Chromium (issue 15, PROTOCOL.md B10): files chosen by the attach button,
paste or drop go with the next Send; an image shown as a thumbnail that opens full size,
another file as a download link, a refused upload, Cancel during an upload."""

from __future__ import annotations

import base64
import io
import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from PIL import Image
from playwright.sync_api import Page, expect

from tests.support.browser import Uplink, unique
from tests.support.files import TEXT_BACK, attach_and_send, png

pytestmark = pytest.mark.e2e

LIMIT = 100_000  # bytes per file here, so that a refused upload stays small
SERVER_ENV = {"MAX_ATTACHMENT_BYTES": str(LIMIT)}

# A DataTransfer holding one PNG made from base64, as a paste or a drop carries it.
TRANSFER = """([name, b64]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const dt = new DataTransfer();
  dt.items.add(new File([bytes], name, { type: "image/png" }));
  return dt;
}"""


def transfer(page: Page, name: str, data: bytes):
    """A handle on a DataTransfer carrying ``data`` as the PNG file ``name``."""
    return page.evaluate_handle(TRANSFER, [name, base64.b64encode(data).decode()])


def test_an_image_and_a_file_reach_the_peer(people):
    alice = people("alice").login(unique("alice"))
    bob = people("bob").login(unique("bob"))
    alice.open_chat(bob.username)
    bob.open_chat(alice.username)

    attach_and_send(alice.page, "sunset.png", "image/png", png(64, 48))
    img = bob.page.get_by_role("log").get_by_role("img", name="sunset.png")
    expect(img).to_be_visible()
    expect(img).to_have_attribute("loading", "lazy")
    expect(img).to_have_attribute("src", re.compile(r"\?thumb=1$"))
    bob.page.wait_for_function("(i) => i.complete && i.naturalWidth > 0", arg=img.element_handle())
    # The thumbnail's link opens the full picture, which only the two of them may fetch.
    full = bob.page.get_by_role("link", name="sunset.png").get_attribute("href")
    answer = bob.context.request.get(bob.url.rstrip("/") + full)
    assert answer.status == 200
    assert answer.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(answer.body())).size == (64, 48)
    # The sender sees it too (the stored thumbnail, not the preview of the queued picture),
    # and the composer is ready for the next one.
    mine = alice.page.get_by_role("log").get_by_role("img", name="sunset.png")
    expect(mine).to_have_attribute("src", re.compile(r"\?thumb=1$"))

    attach_and_send(alice.page, "report.pdf", "application/pdf", b"%PDF-1.4\n%%EOF\n")
    link = bob.page.get_by_role("log").get_by_role("link", name=re.compile(r"^report\.pdf"))
    expect(link).to_be_visible()
    expect(link).to_contain_text("Bytes")
    with bob.page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename == "report.pdf"

    # The stored state shows the same after a reload (the first paint renders attachments).
    bob.page.reload()
    expect(bob.page.get_by_role("log").get_by_role("img", name="sunset.png")).to_be_visible()
    expect(
        bob.page.get_by_role("log").get_by_role("link", name=re.compile(r"^report\.pdf"))
    ).to_be_visible()

    # Both kinds of attachment pass axe.
    violations = Axe().run(bob.page).response["violations"]
    serious = [v["id"] for v in violations if v["impact"] in {"serious", "critical"}]
    assert serious == []


def test_pasted_and_dropped_images_go_with_the_next_send(people):
    alice = people("alice").login(unique("alice"))
    bob = people("bob").login(unique("bob"))
    alice.open_chat(bob.username)
    bob.open_chat(alice.username)
    box = alice.page.get_by_label("Message", exact=True)
    box.fill("look at this")
    alice.page.evaluate(
        "(dt) => document.getElementById('message-input').dispatchEvent("
        "new ClipboardEvent('paste', {clipboardData: dt, bubbles: true, cancelable: true}))",
        transfer(alice.page, "pasted.png", png(20, 20)),
    )
    chosen = alice.page.get_by_role("list", name="Files to send")
    expect(chosen).to_contain_text("pasted.png")
    expect(bob.page.get_by_role("log").locator("li.message")).to_have_count(0)
    box.press("Enter")
    # The composer's text goes with the picture as its message.
    pasted = bob.page.get_by_role("log").locator("li.message", has_text="look at this")
    expect(pasted.get_by_role("img", name="pasted.png")).to_be_visible()
    expect(box).to_have_value("")

    alice.page.locator("#composer").dispatch_event(
        "drop", {"dataTransfer": transfer(alice.page, "dropped.png", png(30, 10))}
    )
    expect(chosen).to_contain_text("dropped.png")
    alice.page.get_by_role("button", name="Send", exact=True).click()
    expect(bob.page.get_by_role("log").get_by_role("img", name="dropped.png")).to_be_visible()


def test_a_refused_upload_says_why_and_sends_nothing(people):
    alice = people("alice").login(unique("alice"))
    bob = people("bob").login(unique("bob"))
    alice.open_chat(bob.username)
    bob.open_chat(alice.username)
    attach_and_send(alice.page, "big.bin", "application/octet-stream", b"x" * (LIMIT + 1))
    mine = alice.page.get_by_role("log").locator("li.message")
    expect(mine.locator(".state")).to_have_text(re.compile(r"^Not sent: Too large"))
    expect(alice.page.locator("#upload")).to_be_hidden()
    mine.get_by_role("button", name="Discard").click()
    expect(mine).to_have_count(0)
    expect(bob.page.get_by_role("log").locator("li.message")).to_have_count(0)


def test_cancel_aborts_an_upload_in_progress(people):
    alice = people("alice").login(unique("alice"))
    bob = people("bob").login(unique("bob"))
    alice.open_chat(bob.username)
    # A slow uplink (about 10 kB/s) keeps a 90 kB upload going long enough to cancel it.
    Uplink(alice.page).limit(10_000)
    box = alice.page.get_by_label("Message", exact=True)
    box.fill("the slow one")
    attach_and_send(alice.page, "slow.bin", "application/octet-stream", b"y" * 90_000)
    expect(alice.page.get_by_role("progressbar", name="Uploading slow.bin")).to_be_visible()
    alice.page.get_by_role("button", name="Cancel").click()
    expect(alice.page.locator("#upload-status")).to_have_text(TEXT_BACK)
    expect(alice.page.locator("#upload")).to_be_hidden()
    expect(alice.page.get_by_role("log").locator("li.message")).to_have_count(0)
    # The message is taken back: its text is in the composer again.
    expect(box).to_have_value("the slow one")
