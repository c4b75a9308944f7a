"""The account page: password, downloading one's data, deleting the account (issue 14)."""

from __future__ import annotations

import json

from chat.extensions import socketio
from tests.support.inprocess import SocketClient, Tab
from tests.support.pages import csrf_token, login


def tab_of(app, client) -> Tab:
    """A socket of the browser whose cookies ``client`` holds."""
    return Tab(SocketClient(app, socketio, flask_test_client=client))


def post(client, path, **fields):
    html = client.get("/account").get_data(as_text=True)
    return client.post(path, data={"csrf_token": csrf_token(html), **fields})


def test_setting_then_changing_the_password(app, client):
    login(client, "alice")
    page = client.get("/account").get_data(as_text=True)
    assert "Set a password" in page and "Current password" not in page
    short = post(client, "/account/password", new_password="short", confirm="short")
    assert short.status_code == 400 and "8 to 128 characters" in short.get_data(as_text=True)
    differ = post(client, "/account/password", new_password="a" * 8, confirm="b" * 8)
    assert differ.status_code == 400 and "The two passwords differ." in differ.get_data(
        as_text=True
    )
    ok = post(client, "/account/password", new_password="first-secret", confirm="first-secret")
    assert ok.status_code == 302
    # The name is now protected: another browser needs the password.
    other = app.test_client()
    assert login(other, "alice").status_code == 400
    assert login(other, "alice", "first-secret").status_code == 302
    page = client.get("/account").get_data(as_text=True)
    assert "Change your password" in page and "Current password" in page
    wrong = post(
        client,
        "/account/password",
        current_password="not-it-at-all",
        new_password="second-secret",
        confirm="second-secret",
    )
    assert wrong.status_code == 400
    assert "This is not your current password." in wrong.get_data(as_text=True)
    changed = post(
        client,
        "/account/password",
        current_password="first-secret",
        new_password="second-secret",
        confirm="second-secret",
    )
    assert changed.status_code == 302
    third = app.test_client()
    assert login(third, "alice", "first-secret").status_code == 400
    assert login(third, "alice", "second-secret").status_code == 302


def test_password_form_needs_the_csrf_token_and_a_session(app, client):
    login(client, "alice")
    refused = client.post("/account/password", data={"new_password": "x" * 10, "confirm": "x" * 10})
    assert refused.status_code == 400
    assert app.test_client().get("/account").status_code == 302


def test_download_holds_every_conversation_of_the_user_only(app, client):
    login(client, "alice")
    alice = tab_of(app, client)
    others = {}
    for name in ("bob", "carol", "dave"):
        c = app.test_client()
        login(c, name)
        others[name] = tab_of(app, c)
    alice.send(others["bob"].user_id, "hi bob")
    others["bob"].send(alice.user_id, "hi alice")
    alice.send(others["carol"].user_id, "hi carol")
    others["bob"].send(others["dave"].user_id, "not alice's business")
    response = client.get("/account/export")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Content-Disposition"] == 'attachment; filename="chat-alice.json"'
    assert response.headers["Cache-Control"] == "no-store"
    data = json.loads(response.get_data(as_text=True))
    assert data["user"]["userID"] == alice.user_id and data["user"]["username"] == "alice"
    by_peer = {
        c["with"]["username"]: [m["content"] for m in c["messages"]] for c in data["conversations"]
    }
    assert by_peer == {"bob": ["hi bob", "hi alice"], "carol": ["hi carol"]}
    assert app.test_client().get("/account/export").status_code == 401


def test_deleting_the_account_needs_the_name_then_removes_it_and_logs_out(app, client):
    login(client, "alice")
    alice = tab_of(app, client)
    other = app.test_client()
    login(other, "bob")
    bob = tab_of(app, other)
    alice.send(bob.user_id, "remember me")
    wrong = post(client, "/account/delete", confirm_name="bob")
    assert wrong.status_code == 400 and "Type alice to confirm." in wrong.get_data(as_text=True)
    assert client.get("/account").status_code == 200  # still logged in
    done = post(client, "/account/delete", confirm_name=" Alice ")
    assert done.status_code == 302
    login_page = client.get("/").get_data(as_text=True)
    assert "Your account was deleted." in login_page and "Start chatting" in login_page
    assert not alice.client.is_connected()
    # Bob keeps the message, from "deleted user"; the name is free for someone new.
    again = tab_of(app, other)
    entry = {u["userID"]: u for u in again.first("users")}[alice.user_id]
    assert entry["username"] == "deleted user"
    assert [m["content"] for m in entry["messages"]] == ["remember me"]
    assert login(app.test_client(), "alice").status_code == 302
