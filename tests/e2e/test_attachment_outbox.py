"""Attachments in the offline outbox (issue 15): a message with a picture written while
offline waits, survives a reload, and goes out once the connection is back; each file is
uploaded once, even when the connection drops between the upload and the send."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import SOCKET_URL, conversation, messages, reconnect_through, unique
from tests.support.files import attach_and_send, files_on_device, png, stored_counts

pytestmark = pytest.mark.e2e


def pending(page: Page):
    """Alice's message waiting with its picture, as her page shows it."""
    item = messages(page).filter(has_text="sunset.png")
    expect(item.locator(".state")).to_have_text("Waiting for connection")
    return item


def arrived_once(alice, bob, server) -> None:
    """Bob sees exactly one message, with the thumbnail; the server holds one of each."""
    img = bob.page.get_by_role("log").get_by_role("img", name="sunset.png")
    expect(img).to_be_visible()
    bob.page.wait_for_function("(i) => i.complete && i.naturalWidth > 0", arg=img.element_handle())
    expect(messages(alice.page).locator(".state")).to_have_text([re.compile("^(Sent|Read)$")])
    expect(messages(bob.page)).to_have_count(1)
    assert stored_counts(server.db_path, alice.user_id()) == (1, 1)
    assert alice.page.evaluate(f"localStorage.getItem('chat-outbox:{alice.user_id()}')") is None
    assert files_on_device(alice.page) == 0  # nothing of it left on the device


def test_an_offline_send_goes_out_after_reconnecting(people, server):
    alice, bob = conversation(people)
    alice.context.set_offline(True)
    expect(alice.page.locator("#app")).to_have_attribute("data-connection", "offline")

    attach_and_send(alice.page, "sunset.png", "image/png", png(64, 48))

    pending(alice.page)
    assert files_on_device(alice.page) == 1
    alice.context.set_offline(False)
    arrived_once(alice, bob, server)


def test_a_reload_while_offline_keeps_the_message_and_its_picture(people, server):
    alice, bob = conversation(people)
    page = alice.page
    alice.context.set_offline(True)
    expect(page.locator("#app")).to_have_attribute("data-connection", "offline")
    attach_and_send(page, "sunset.png", "image/png", png(64, 48))
    pending(page)
    # Reload with the page reachable but the chat connection still blocked.
    page.route(SOCKET_URL, lambda route: route.abort())
    alice.context.set_offline(False)
    page.reload()
    expect(pending(page)).to_contain_text("sunset.png")
    assert stored_counts(server.db_path, alice.user_id()) == (0, 0)
    page.unroute(SOCKET_URL)
    arrived_once(alice, bob, server)


def test_a_connection_lost_after_the_upload_does_not_upload_again(people, server):
    alice = people("alice").login(unique("alice"))
    bob = people("bob").login(unique("bob"))
    dropped = []

    def drop_the_first_send(ws):
        upstream = ws.connect_to_server()

        def from_page(frame):
            # The first `private message` never reaches the server: the connection drops.
            if not dropped and isinstance(frame, str) and '"private message"' in frame:
                dropped.append(frame)
                ws.close()
                return
            upstream.send(frame)

        ws.on_message(from_page)

    reconnect_through(alice, bob, drop_the_first_send)
    uploads = []
    alice.page.on(
        "request",
        lambda r: uploads.append(r) if r.method == "POST" and "/api/attachments" in r.url else None,
    )

    attach_and_send(alice.page, "sunset.png", "image/png", png(64, 48))

    arrived_once(alice, bob, server)
    assert len(dropped) == 1
    assert len(uploads) == 1


UPLOADS = re.compile(r"/api/attachments$")


def test_an_upload_whose_answer_was_lost_is_not_stored_twice(people, server):
    alice, bob = conversation(people)
    page = alice.page
    keys = []

    def lose_the_first_answer(route):
        keys.append(route.request.headers.get("idempotency-key"))
        if len(keys) > 1:
            route.continue_()
            return
        route.fetch()  # the server stores the file...
        route.abort("connectionreset")  # ...and the page never hears of it

    page.route(UPLOADS, lose_the_first_answer)
    attach_and_send(page, "sunset.png", "image/png", png(64, 48))
    failed = messages(page).filter(has_text="sunset.png")
    expect(failed.locator(".state")).to_have_text("Not sent: the connection failed")
    assert stored_counts(server.db_path, alice.user_id()) == (0, 1)

    failed.get_by_role("button", name="Retry").click()
    arrived_once(alice, bob, server)
    # The same key both times: the server answered the second with the first's upload.
    assert len(keys) == 2 and keys[0] and keys[0] == keys[1]
