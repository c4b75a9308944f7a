"""Attachments in Chromium (issue 15, PROTOCOL.md B10): the attach button, an image shown as a
thumbnail that opens full size, another file as a download link, Cancel during an upload."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.support.browser import unique

pytestmark = pytest.mark.e2e


def png(width: int, height: int) -> bytes:
    """A small PNG made here, so the test needs no fixture file."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 90)).save(out, format="PNG")
    return out.getvalue()


def test_an_image_and_a_file_reach_the_peer(people):
    alice = people("alice").login(unique("alice"))
    bob = people("bob").login(unique("bob"))
    alice.open_chat(bob.username)
    bob.open_chat(alice.username)

    alice.page.get_by_label("Attach a file").set_input_files(
        {"name": "sunset.png", "mimeType": "image/png", "buffer": png(64, 48)}
    )
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
    # The sender sees it too, and the composer is ready for the next one.
    expect(alice.page.get_by_role("log").get_by_role("img", name="sunset.png")).to_be_visible()

    alice.page.get_by_label("Attach a file").set_input_files(
        {"name": "report.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4\n%%EOF\n"}
    )
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
