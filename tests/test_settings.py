"""The settings form: turning read receipts off (issue 7), CSRF-protected, with its effects."""

from __future__ import annotations

import re

from chat.extensions import socketio
from tests.support.inprocess import SocketClient, Tab
from tests.support.pages import csrf_token, login


def tab_of(app, client) -> Tab:
    client_tab = SocketClient(app, socketio, flask_test_client=client)
    assert client_tab.is_connected()
    return Tab(client_tab)


def receipts_box_checked(html: str) -> bool:
    tag = re.search(r'<input[^>]*id="read_receipts"[^>]*>', html).group(0)
    return re.search(r"\schecked[\s>]", tag) is not None


def save_settings(client, **fields):
    html = client.get("/").get_data(as_text=True)
    data = {"csrf_token": csrf_token(html), **fields}
    return client.post("/settings", data=data)


def test_chat_page_shows_read_receipts_on_by_default(client):
    login(client, "alice")
    html = client.get("/").get_data(as_text=True)
    assert receipts_box_checked(html)
    assert '<label for="read_receipts">Send read receipts</label>' in html


def test_turning_receipts_off_stops_read_events_to_peers_but_not_own_tabs(app, client):
    login(client, "bob")
    response = save_settings(client)  # an unchecked box is absent from the form
    assert response.status_code == 302
    page = client.get("/").get_data(as_text=True)
    assert "Settings saved." in page
    assert not receipts_box_checked(page)
    bob = tab_of(app, client)
    other = app.test_client()
    login(other, "alice")
    alice = tab_of(app, other)
    sent = alice.send(bob.user_id, "did you read this?")["message"]
    alice.clear()
    bob.clear()
    ack = bob.emit("read", {"with": alice.user_id, "upTo": sent["id"]})
    assert ack == {"ok": True, "upTo": sent["id"]}
    assert bob.received("read") == [{"by": bob.user_id, "with": alice.user_id, "upTo": sent["id"]}]
    assert alice.received("read") == []
    # Bob's own unread count still follows his reads.
    again = tab_of(app, client)
    entry = {u["userID"]: u for u in again.first("users")}[alice.user_id]
    assert entry["unread"] == 0
    # Alice's list does not reveal how far Bob read.
    alice_again = tab_of(app, other)
    assert {u["userID"]: u for u in alice_again.first("users")}[bob.user_id]["readUpTo"] is None


def test_turning_receipts_back_on(app, client):
    login(client, "bob")
    save_settings(client)
    save_settings(client, read_receipts="y")
    assert receipts_box_checked(client.get("/").get_data(as_text=True))


def test_settings_without_csrf_token_change_nothing(client):
    login(client, "bob")
    response = client.post("/settings", data={})
    assert response.status_code == 400
    html = client.get("/").get_data(as_text=True)
    assert "Settings saved." not in html
    assert receipts_box_checked(html)


def test_settings_need_a_session(client):
    response = client.post("/settings", data={"read_receipts": ""})
    assert response.status_code in (302, 400)
    assert "Username" in client.get("/").get_data(as_text=True)


def test_settings_return_to_the_open_conversation(app, client):
    login(client, "bob")
    other = app.test_client()
    login(other, "alice")
    alice_id = tab_of(app, other).user_id
    html = client.get(f"/?with={alice_id}").get_data(as_text=True)
    response = client.post("/settings", data={"csrf_token": csrf_token(html), "peer": alice_id})
    assert response.headers["Location"].endswith(f"/?with={alice_id}")


def test_users_carries_how_far_each_peer_read_my_messages(app, client):
    login(client, "alice")
    alice = tab_of(app, client)
    bob_client = app.test_client()
    login(bob_client, "bob")
    bob = tab_of(app, bob_client)
    first = alice.send(bob.user_id, "one")["message"]["id"]
    alice.send(bob.user_id, "two")
    bob.emit("read", {"with": alice.user_id, "upTo": first})
    again = tab_of(app, client)
    entries = {u["userID"]: u for u in again.first("users")}
    assert entries[bob.user_id]["readUpTo"] == first
    assert entries[alice.user_id]["readUpTo"] is None
    # The first paint carries the same mark, so ticks are right before the socket connects.
    html = client.get(f"/?with={bob.user_id}").get_data(as_text=True)
    assert html.count('data-state="read"') == 1 and html.count('data-state="sent"') == 1
