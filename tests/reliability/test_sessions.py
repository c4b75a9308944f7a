"""Identity and sessions: expiry, revocation, theft attempts, secrets kept to their owner."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from chat import store
from chat.extensions import db, socketio
from chat.models import Session, User, utcnow
from tests.support.inprocess import SocketClient, open_tab


def csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def page_login(client, username: str, password: str = ""):
    page = client.get("/").get_data(as_text=True)
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_token(page)},
    )


def age_sessions(app, days: float) -> None:
    with app.app_context():
        db.session.execute(update(Session).values(last_used_at=utcnow() - timedelta(days=days)))
        db.session.commit()


@pytest.mark.parametrize(("idle_days", "aged", "resumes"), [(1, 2, False), (1, 0.5, True)])
def test_idle_sessions_expire_after_the_configured_time(make_app, idle_days, aged, resumes):
    app = make_app(SESSION_IDLE_DAYS=idle_days)
    alice = open_tab(app, username="alice")
    alice.close()
    age_sessions(app, aged)
    again = SocketClient(app, socketio, auth={"sessionID": alice.session_id})
    assert again.is_connected() is resumes
    if not resumes:
        assert again.connect_error == {"message": "invalid username"}
        with app.app_context():  # an expired session is deleted, not just refused
            assert db.session.scalar(select(Session)) is None


def test_logout_revokes_the_session_for_every_socket_and_resume(app, client):
    assert page_login(client, "alice").status_code == 302
    tab = SocketClient(app, socketio, flask_test_client=client)
    token = next(p for p in tab.get_received() if p["name"] == "session")["args"][0]["sessionID"]
    html = client.get("/").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf_token(html)})
    assert not tab.is_connected()
    thief = SocketClient(app, socketio, auth={"sessionID": token})
    assert thief.connect_error == {"message": "invalid username"}


@pytest.mark.parametrize("steal", ["user_id", "token_hash", "token_prefix", "session_row_id"])
def test_stolen_looking_session_ids_are_refused(app, connect_as, socket_client, steal):
    alice = connect_as("alice")
    with app.app_context():
        row = db.session.scalar(select(Session))
    guess = {
        "user_id": alice.user_id,
        "token_hash": hashlib.sha256(alice.session_id.encode()).hexdigest(),  # a leaked table
        "token_prefix": alice.session_id[:-1],
        "session_row_id": str(row.id),
    }[steal]
    thief = socket_client(auth={"sessionID": guess})
    assert not thief.is_connected()
    assert thief.connect_error == {"message": "invalid username"}


def test_session_ids_are_stored_only_as_hashes(app, connect_as):
    alice = connect_as("alice")
    with app.app_context():
        rows = db.session.scalars(select(Session)).all()
    assert [r.token_hash for r in rows] == [store.hash_token(alice.session_id)]
    assert all(alice.session_id not in repr(vars(r)) for r in rows)


def test_no_event_to_another_user_carries_a_session_id_or_password_hash(app, connect_as):
    bob = connect_as("bob", password="bob's long password")
    alice = connect_as("alice", password="alice's long password")
    alice2 = connect_as(session_id=alice.session_id)
    carol = connect_as("carol")
    ack = alice.send(bob.user_id, "hi", clientId="c1")
    bob.send(alice.user_id, "hello")
    bob.emit("read", {"with": alice.user_id, "upTo": ack["message"]["id"]})
    alice.emit("typing", {"to": bob.user_id})
    alice.emit("fetch messages", {"with": bob.user_id})
    alice2.close()
    again = connect_as("alice", password="alice's long password")  # reclaim, new session
    with app.app_context():
        hashes = [u.password_hash for u in db.session.scalars(select(User)) if u.password_hash]
    assert len(hashes) == 2
    secrets_of = {
        "alice": [alice.session_id, again.session_id],
        "bob": [bob.session_id],
        "carol": [carol.session_id],
    }
    tabs = {"alice": [alice, again], "bob": [bob], "carol": [carol]}
    for name, own in tabs.items():
        seen = repr([tab.inbox for tab in own] + [tab.received() for tab in own])
        for other, tokens in secrets_of.items():
            if other != name:
                assert not any(t in seen for t in tokens), f"{name} saw {other}'s sessionID"
        assert not any(h in seen for h in hashes), f"{name} saw a password hash"
        assert "password" not in seen.lower()


def test_cookie_is_secure_over_https_only(client):
    plain = page_login(client, "alice")
    assert "Secure" not in plain.headers["Set-Cookie"]
    https = client.application.test_client()
    page = https.get("/", base_url="https://localhost").get_data(as_text=True)
    response = https.post(
        "/login",
        base_url="https://localhost",
        # Over HTTPS Flask-WTF also checks that the form came from this origin.
        headers={"Referer": "https://localhost/"},
        data={"username": "bob", "csrf_token": csrf_token(page)},
    )
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_a_new_secret_key_signs_at_once_and_a_retired_one_only_as_a_fallback(app, client):
    name = app.config["SESSION_COOKIE_NAME"]

    def logged_in(cookie: str) -> bool:
        probe = app.test_client()  # a client of its own: a page may re-sign the cookie
        probe.set_cookie(name, cookie)
        return 'action="/login"' not in probe.get("/").get_data(as_text=True)

    page_login(client, "alice")
    signed_with_old = client.get_cookie(name).value
    assert logged_in(signed_with_old)
    app.config["SECRET_KEY_FALLBACKS"] = [app.secret_key]
    app.config["SECRET_KEY"] = "a-new-secret-for-this-test"
    assert logged_in(signed_with_old)  # still accepted, as a fallback
    app.config["SECRET_KEY_FALLBACKS"] = []
    assert not logged_in(signed_with_old)
    page_login(client, "bob")
    assert logged_in(client.get_cookie(name).value)  # signed with the new key


@pytest.mark.parametrize(("trusted", "secure"), [(1, True), (0, False)])
def test_forwarded_https_is_believed_only_from_a_trusted_proxy(make_app, trusted, secure):
    client = make_app(TRUSTED_PROXIES=trusted).test_client()
    forwarded = {
        "X-Forwarded-Proto": "https",
        "X-Forwarded-For": "203.0.113.9",
        "Referer": "https://localhost/",
    }
    page = client.get("/", headers=forwarded).get_data(as_text=True)
    response = client.post(
        "/login",
        headers=forwarded,
        data={"username": "alice", "csrf_token": csrf_token(page)},
    )
    assert response.status_code == 302
    assert ("Secure" in response.headers["Set-Cookie"]) is secure
