"""The pages: login form with server-side validation, the chat page, logout, headers."""

from __future__ import annotations

import re

import pytest

from chat.extensions import socketio
from tests.support.inprocess import SocketClient
from tests.support.pages import csrf_token, first, login


def test_login_page_has_a_labelled_username_field(client):
    html = client.get("/").get_data(as_text=True)
    assert re.search(r'<label for="username">Username</label>', html)
    assert 'name="csrf_token"' in html


@pytest.mark.parametrize(
    ("name", "message"),
    [("", "Please choose a username."), ("ab", "Usernames are 3 to 32"), ("a b c", "Usernames")],
)
def test_login_errors_are_shown_next_to_the_field(client, name, message):
    response = login(client, name)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'aria-invalid="true"' in html
    assert message in html


def test_login_without_csrf_token_is_refused(client):
    response = client.post("/login", data={"username": "alice"})
    assert response.status_code == 400
    assert "session" not in response.headers.get("Set-Cookie", "")


def test_login_sets_an_httponly_lax_cookie_and_shows_the_chat(client):
    response = login(client, "alice")
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    html = client.get("/").get_data(as_text=True)
    assert 'role="log"' in html
    assert "alice" in html


def test_socket_authenticates_with_the_page_cookie(app, client):
    login(client, "alice")
    tab = SocketClient(app, socketio, flask_test_client=client)
    assert tab.is_connected()
    users = first(tab, "users")
    assert users[0]["username"] == "alice"


def test_taken_name_shows_an_error(app, client):
    login(client, "alice")
    other = app.test_client()
    response = login(other, "ALICE")
    assert response.status_code == 400
    assert "taken" in response.get_data(as_text=True)


def test_logout_revokes_the_session_and_closes_its_sockets(app, client):
    login(client, "alice")
    tab = SocketClient(app, socketio, flask_test_client=client)
    assert tab.is_connected()
    html = client.get("/").get_data(as_text=True)
    response = client.post("/logout", data={"csrf_token": csrf_token(html)})
    assert response.status_code == 302
    assert not tab.is_connected()
    assert "Username" in client.get("/").get_data(as_text=True)


def test_user_strings_are_escaped_in_the_first_paint(app, client):
    login(client, "bob")
    bob_tab = SocketClient(app, socketio, flask_test_client=client)
    bob_id = first(bob_tab, "session")["userID"]
    other = app.test_client()
    login(other, "mallory")
    mallory = SocketClient(app, socketio, flask_test_client=other)
    payload = "<img src=x onerror=alert(1)>"
    mallory.emit("private message", {"content": payload, "to": bob_id}, callback=True)
    mallory_id = first(mallory, "session")["userID"]
    html = client.get(f"/?with={mallory_id}").get_data(as_text=True)
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert payload not in html


def test_security_headers(client):
    headers = client.get("/").headers
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
