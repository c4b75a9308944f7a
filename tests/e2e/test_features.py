"""Issue 7 in real Chromium: read ticks, outbox, catch-up, paging, typing, settings, attention."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from deploy.launch import Server
from tests.support.browser import (
    HISTORY_PAGE,
    SOCKET_URL,
    connected,
    message,
    messages,
    reconnect_through,
    shot,
    unique,
    user_link,
)
from tests.support.databases import migrated
from tests.support.peer import Peer

pytestmark = pytest.mark.e2e


def state_of(page, text):
    return message(page, text).locator(".state")


def test_read_ticks_across_two_people_and_two_tabs(people):
    alice = people("alice").login(unique("alice"))
    alice_tab2 = alice.new_tab()
    bob = people("bob").login(unique("bob"))
    bob_tab2 = bob.new_tab()
    for page in (alice.page, alice_tab2):
        alice.open_chat(bob.username, page=page)
    alice.send("did you get this?")
    for page in (alice.page, alice_tab2):
        expect(state_of(page, "did you get this?")).to_have_text("Sent")
    for page in (bob.page, bob_tab2):
        expect(user_link(page, alice.username)).to_have_accessible_name(
            re.compile(r", online, 1 unread$")
        )
        expect(page).to_have_title("(1) Private chat")
    bob.page.bring_to_front()
    bob.open_chat(alice.username)
    # Reading in one tab clears the badge in the other and turns both sender tabs to "Read".
    expect(user_link(bob_tab2, alice.username)).to_have_accessible_name(re.compile(r", online$"))
    expect(bob_tab2).to_have_title("Private chat")
    for page in (alice.page, alice_tab2):
        expect(state_of(page, "did you get this?")).to_have_text("Read")
    # Ticks stay right after a reload: the first paint knows how far Bob read.
    alice_tab2.reload()
    expect(state_of(alice_tab2, "did you get this?")).to_have_text("Read")
    shot(alice.page, "read-ticks")


def test_offline_outbox_survives_a_reload_and_sends_once_in_order(people):
    alice = people("alice").login(unique("alice"))
    bob = people("bob").login(unique("bob"))
    alice.open_chat(bob.username)
    bob.open_chat(alice.username)
    page = alice.page
    alice.context.set_offline(True)
    expect(page.get_by_role("status").filter(has_text="Connection lost")).to_be_visible()
    alice.send("queued one")
    alice.send("queued two")
    for text in ("queued one", "queued two"):
        expect(state_of(page, text)).to_have_text("Waiting for connection")
    stored = page.evaluate(f"localStorage.getItem('chat-outbox:{alice.user_id()}')")
    assert [m["content"] for m in json.loads(stored)] == ["queued one", "queued two"]
    # Reload with the page reachable but the chat connection still blocked.
    page.route(SOCKET_URL, lambda route: route.abort())
    alice.context.set_offline(False)
    page.reload()
    for text in ("queued one", "queued two"):
        expect(state_of(page, text)).to_have_text("Waiting for connection")
    shot(page, "outbox-after-reload")
    page.unroute(SOCKET_URL)
    for text in ("queued one", "queued two"):
        expect(state_of(page, text)).to_have_text(re.compile("Sent|Read"))
    expect(messages(bob.page)).to_have_text([re.compile("queued one"), re.compile("queued two")])
    assert page.evaluate(f"localStorage.getItem('chat-outbox:{alice.user_id()}')") is None
    # Entries already stored (a reload raced the ack) are recognised by clientId, not resent.
    key = f"chat-outbox:{alice.user_id()}"
    page.evaluate("([key, value]) => localStorage.setItem(key, value)", [key, stored])
    page.reload()
    page.wait_for_function("(key) => localStorage.getItem(key) === null", arg=key)
    bob.page.reload()
    expect(messages(bob.page)).to_have_text([re.compile("queued one"), re.compile("queued two")])
    expect(messages(page)).to_have_count(2)


def test_lost_ack_fails_then_retry_sends_the_same_message_once(people):
    alice = people("alice").login(unique("alice"))
    bob = people("bob").login(unique("bob"))
    lost = []

    def lose_first_ack(ws):
        server = ws.connect_to_server()

        def from_server(frame):
            # "43<n>[...]" is an ack; swallow the first successful one, pass on the rest.
            if (
                not lost
                and isinstance(frame, str)
                and frame.startswith("43")
                and '"ok":true' in frame
            ):
                lost.append(frame)
                return
            ws.send(frame)

        server.on_message(from_server)

    reconnect_through(alice, bob, lose_first_ack)
    alice.send("exactly once, please")
    # The server stored and relayed it; the page never heard back and says so (10 s timeout).
    expect(message(bob.page, "exactly once, please")).to_be_visible()
    state = state_of(alice.page, "exactly once, please")
    expect(state).to_have_text("Not sent: the server did not answer")
    assert len(lost) == 1
    shot(alice.page, "failed-with-retry")
    message(alice.page, "exactly once, please").get_by_role("button", name="Retry").click()
    expect(state).to_have_text(re.compile("Sent|Read"))
    expect(messages(alice.page)).to_have_count(1)
    bob.page.reload()
    expect(messages(bob.page).locator(".content")).to_have_text(["exactly once, please"])


def test_catch_up_after_a_dropped_connection(people):
    alice = people("alice").login(unique("alice"))
    bob = people("bob").login(unique("bob"))
    alice.open_chat(bob.username)
    bob.open_chat(alice.username)
    alice.send("before the drop")
    expect(message(bob.page, "before the drop")).to_be_visible()
    bob.page.evaluate("window.notReloaded = true")
    bob.context.set_offline(True)
    expect(bob.page.get_by_role("status").filter(has_text="Connection lost")).to_be_visible()
    expect(alice.page.locator("#peer-status")).to_have_text(re.compile("last seen"))
    missed = [f"missed {i}" for i in range(1, HISTORY_PAGE + 6)]  # more than one page
    for text in missed:
        alice.send(text)
    expect(state_of(alice.page, missed[-1])).to_have_text("Sent")
    bob.context.set_offline(False)
    expected = ["before the drop", *missed]
    expect(messages(bob.page).locator(".content")).to_have_text(expected)
    assert bob.page.evaluate("window.notReloaded") is True
    ids = [int(i) for i in messages(bob.page).evaluate_all("els => els.map(e => e.dataset.id)")]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    expect(state_of(alice.page, missed[-1])).to_have_text("Read")


def test_unread_counts_and_the_page_survive_a_server_restart(people, tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'chat.db'}", "REDIS_URL": ""}
    migrated(env)
    first = Server(env).start()
    try:
        alice = people("alice")
        alice.url = first.url
        alice.login(unique("alice"))
        bob = people("bob")
        bob.url = first.url
        bob.login(unique("bob"))
        alice.open_chat(bob.username)
        alice.send("one")
        alice.send("two")
        link = user_link(bob.page, alice.username)
        expect(link).to_have_accessible_name(re.compile(r", 2 unread$"))
        first.kill()  # a crash: no goodbye to anyone
        expect(bob.page.locator("#app")).to_have_attribute("data-connection", "offline")
        second = Server(env, port=first.port).start()
    finally:
        first.kill()
    try:
        # Both pages reconnect by themselves; the counts come back from the database.
        connected(bob.page)
        connected(alice.page)
        expect(link).to_have_accessible_name(re.compile(r", online, 2 unread$"))
        alice.send("three, after the restart")
        expect(link).to_have_accessible_name(re.compile(r", online, 3 unread$"))
        bob.page.reload()
        expect(link).to_have_accessible_name(re.compile(r", 3 unread$"))
        bob.open_chat(alice.username)
        expect(messages(bob.page).locator(".content")).to_have_text(
            ["one", "two", "three, after the restart"]
        )
    finally:
        second.kill()  # stop() would wait out the graceful timeout for the open pages


def test_load_older_keeps_the_view_still(people, server):
    name = unique("alice")
    seeder = Peer(server.url, transports=["websocket"], username=name, password="long enough")
    bob = people("bob").login(unique("bob"))
    total = 2 * HISTORY_PAGE + 5
    for i in range(total):
        assert seeder.send(bob.user_id(), f"m{i}")["ok"] is True
    seeder.close()
    alice = people("alice").login(name, password="long enough")
    alice.open_chat(bob.username)
    page = alice.page
    expect(messages(page)).to_have_count(HISTORY_PAGE)
    older = page.get_by_role("button", name="Load older messages")
    expect(older).to_be_visible()
    first = message(page, f"m{total - HISTORY_PAGE}")
    # Scrolling to the top loads the previous page; the message at the top stays put.
    top_before = first.evaluate(
        "(li) => { document.getElementById('scroller').scrollTop = 0;"
        " return li.getBoundingClientRect().top; }"
    )
    expect(messages(page)).to_have_count(2 * HISTORY_PAGE)
    assert abs(first.evaluate("(li) => li.getBoundingClientRect().top") - top_before) < 2
    # The button does the same from the keyboard.
    second = message(page, f"m{total - 2 * HISTORY_PAGE}")
    top_before = second.evaluate("(li) => li.getBoundingClientRect().top")
    older.evaluate("(b) => b.focus({preventScroll: true})")
    page.keyboard.press("Enter")
    expect(messages(page)).to_have_count(total)
    assert abs(second.evaluate("(li) => li.getBoundingClientRect().top") - top_before) < 2
    expect(older).to_be_hidden()
    expect(messages(page).first.locator(".content")).to_have_text("m0")
    expect(page.locator("#scroller")).to_be_focused()  # focus did not fall off the page


def test_typing_is_shown_throttled_and_cleared(people):
    alice = people("alice").login(unique("alice"))
    bob = people("bob").login(unique("bob"))
    typing_frames = []
    alice.page.on(
        "websocket",
        lambda ws: ws.on(
            "framesent", lambda f: typing_frames.append(f) if '"typing"' in str(f) else None
        ),
    )
    alice.page.reload()  # so that the recorder sees the socket from its start
    alice.open_chat(bob.username)
    bob.open_chat(alice.username)
    indicator = bob.page.locator("#typing")
    box = alice.page.get_by_label("Message", exact=True)
    started = time.monotonic()
    box.press_sequentially("typing quite a long sentence")
    expect(indicator).to_have_text(f"{alice.username} is typing…")
    elapsed = time.monotonic() - started
    assert 1 <= len(typing_frames) <= 1 + int(elapsed // 3)
    box.press("Enter")
    expect(message(bob.page, "typing quite a long sentence")).to_be_visible()
    expect(indicator).to_have_text("")  # cleared by the message itself
    box.press_sequentially("more")
    expect(indicator).to_have_text(f"{alice.username} is typing…")
    expect(indicator).to_have_text("", timeout=10_000)  # cleared after a few idle seconds


def test_read_receipts_can_be_turned_off(people):
    alice = people("alice").login(unique("alice"))
    bob = people("bob").login(unique("bob"))
    bob.page.get_by_text("Settings", exact=True).click()
    receipts = bob.page.get_by_label("Send read receipts")
    expect(receipts).to_be_checked()
    receipts.uncheck()
    bob.page.get_by_role("button", name="Save settings").click()
    expect(bob.page.get_by_role("status").filter(has_text="Settings saved.")).to_be_visible()
    alice.open_chat(bob.username)
    alice.send("read this quietly")
    expect(user_link(bob.page, alice.username)).to_have_accessible_name(re.compile(r", 1 unread$"))
    bob.open_chat(alice.username)
    expect(user_link(bob.page, alice.username)).to_have_accessible_name(re.compile(r", online$"))
    bob.send("noted")
    expect(message(alice.page, "noted")).to_be_visible()
    # Bob's read happened before his reply; Alice still only sees "Sent".
    expect(state_of(alice.page, "read this quietly")).to_have_text("Sent")
    alice.page.reload()
    expect(state_of(alice.page, "read this quietly")).to_have_text("Sent")


FAKE_ATTENTION = """
window.hiddenForTest = false;
Object.defineProperty(document, "visibilityState", {
  get: () => (window.hiddenForTest ? "hidden" : "visible"),
});
Object.defineProperty(document, "hidden", {get: () => window.hiddenForTest});
window.notes = [];
let permission = "default";
window.Notification = class {
  constructor(title, options) { window.notes.push({title, body: options && options.body}); }
  static get permission() { return permission; }
  static requestPermission() { permission = "granted"; return Promise.resolve(permission); }
  addEventListener() {}
  close() {}
};
"""


def test_title_count_and_notifications_while_the_tab_is_hidden(people):
    alice = people("alice").login(unique("alice"))
    bob = people("bob")
    bob.context.add_init_script(FAKE_ATTENTION)
    bob.login(unique("bob"))
    bob.page.get_by_text("Settings", exact=True).click()
    bob.page.get_by_role("button", name="Turn on notifications").click()
    expect(bob.page.get_by_role("button", name="Turn off notifications")).to_be_visible()
    bob.open_chat(alice.username)
    alice.open_chat(bob.username)
    bob.page.evaluate(
        "window.hiddenForTest = true; document.dispatchEvent(new Event('visibilitychange'))"
    )
    alice.send("ping while you are away")
    expect(bob.page).to_have_title("(1) Private chat")
    bob.page.wait_for_function("window.notes.length === 1")
    assert bob.page.evaluate("window.notes") == [
        {"title": alice.username, "body": "ping while you are away"}
    ]
    expect(state_of(alice.page, "ping while you are away")).to_have_text("Sent")
    bob.page.evaluate(
        "window.hiddenForTest = false; document.dispatchEvent(new Event('visibilitychange'))"
    )
    expect(bob.page).to_have_title("Private chat")
    expect(state_of(alice.page, "ping while you are away")).to_have_text("Read")
    alice.send("and now you are here")
    expect(message(bob.page, "and now you are here")).to_be_visible()
    assert bob.page.evaluate("window.notes.length") == 1  # visible tab: no notification


def test_last_seen_is_relative_and_kept_in_the_database(people, server):
    alice = people("alice").login(unique("alice"))
    bob = people("bob").login(unique("bob"))
    bob.page.goto("about:blank")  # leaving the page closes its connection
    link = user_link(alice.page, bob.username)
    expect(link).to_have_accessible_name(re.compile(r", last seen just now$"))
    three_hours_ago = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=3)
    with sqlite3.connect(server.db_path) as db:
        db.execute(
            "UPDATE users SET last_seen = ? WHERE username = ?",
            (three_hours_ago.isoformat(sep=" "), bob.username),
        )
    alice.page.reload()
    expect(link).to_have_accessible_name(re.compile(r", last seen 3 hours ago$"))
    alice.open_chat(bob.username)
    expect(alice.page.locator("#peer-status")).to_have_text("last seen 3 hours ago")


# Leaves the page in the task after the WebSocket probe's answer, while long-polling pauses
# for the upgrade: the moment where engine.io's closeOnBeforeunload sent nothing.
LEAVE_DURING_UPGRADE = """
const Native = window.WebSocket;
window.WebSocket = function (url, protocols) {
  const ws = new Native(url, protocols);
  ws.addEventListener("message", (ev) => {
    if (ev.data !== "3probe" || !sessionStorage.getItem("leave")) return;
    setTimeout(() => location.assign("about:blank"));
  });
  return ws;
};
Object.assign(window.WebSocket, Native);
window.WebSocket.prototype = Native.prototype;
"""


def test_a_page_leaving_during_the_upgrade_is_seen_gone_at_once(people):
    alice = people("alice").login(unique("alice"))
    bob = people("bob")
    bob.context.add_init_script(LEAVE_DURING_UPGRADE)
    bob.login(unique("bob"))
    bob.page.evaluate("sessionStorage.setItem('leave', '1')")
    bob.page.reload(wait_until="commit")
    bob.page.wait_for_url("about:blank")
    # Well before the ping timeout (25 + 20 s) that would otherwise end bob's session.
    expect(user_link(alice.page, bob.username)).to_have_accessible_name(
        re.compile(r", last seen just now$")
    )
