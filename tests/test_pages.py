"""The pages: login with server-side validation, the chat and its first paint, logout, headers."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from chat.extensions import socketio
from chat.relative_time import ago, utc
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


NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds_ago", "words"),
    # What static/js/format.js (Intl.RelativeTimeFormat "en", numeric "auto") says, as
    # printed by Chromium's V8 (node 20); JavaScript's Math.round(-1.5) is -1.
    [
        (-30, "just now"),
        (10, "just now"),
        (44, "just now"),
        (50, "50 seconds ago"),
        (90, "1 minute ago"),
        (150, "2 minutes ago"),
        (3600, "1 hour ago"),
        (3 * 3600, "3 hours ago"),
        (36 * 3600, "yesterday"),
        (86400, "yesterday"),
        (7 * 86400, "last week"),
        (30 * 86400, "4 weeks ago"),
        (60 * 86400, "2 months ago"),
        (400 * 86400, "last year"),
        (3 * 365 * 86400, "3 years ago"),
    ],
)
def test_times_are_worded_as_the_script_words_them(seconds_ago, words):
    iso = (NOW - timedelta(seconds=seconds_ago)).isoformat(timespec="milliseconds")
    assert ago(iso.replace("+00:00", "Z"), NOW) == words


@pytest.mark.parametrize("bad", [None, "", "yesterday", "2026-13-01T00:00:00Z"])
def test_a_missing_or_malformed_time_has_no_words(bad):
    assert ago(bad, NOW) == ""
    assert utc(bad) == ""


def test_an_offline_user_is_last_seen_in_the_first_paint_as_in_the_script(app, client):
    login(client, "alice")
    other = app.test_client()
    login(other, "bob")
    bob = SocketClient(app, socketio, flask_test_client=other)
    bob_id = first(bob, "session")["userID"]
    bob.disconnect()
    html = client.get(f"/?with={bob_id}").get_data(as_text=True)
    row = re.search(rf'<a class="user[^"]*" href="\?with={bob_id}".*?</a>', html, re.S).group(0)
    assert 'aria-label="bob, last seen just now"' in row
    status = re.search(r'<span class="status offline" title="([^"]+)">([^<]*)</span>', row)
    assert status.group(2) == "last seen just now"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", status.group(1))  # the absolute time
    assert '<p id="peer-status" class="peer-status"' in html
    assert re.search(r'id="peer-status"[^>]*>last seen just now</p>', html)
    assert "offline</span>" not in html


def test_the_script_clones_the_first_paint_markup_and_loads_as_a_module(app, client):
    login(client, "alice")
    html = client.get("/").get_data(as_text=True)
    for template in ("user-row-template", "search-result-template", "message-template"):
        assert f'<template id="{template}">' in html
    row = re.search(r'<template id="user-row-template">(.*?)</template>', html, re.S).group(1)
    assert re.search(r'<span class="name">\s*</span>', row) and 'class="badge" hidden' in row
    assert '<script type="module" src="/static/js/main.js"></script>' in html
