"""Handshake limits that stop abuse without locking out people who share an address.

Every test client connects from 127.0.0.1: one address, like an office or a carrier's NAT.
The limits are the defaults of chat/config.py (docs/security.md gives the reasoning).
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from chat import store
from chat.config import DEFAULTS
from chat.extensions import db, socketio
from chat.models import User
from tests.support.inprocess import SocketClient

LIMITS = {
    k: DEFAULTS[k]
    for k in DEFAULTS
    if k.split("_")[0] in ("CONNECT", "SIGNUP", "RESUME") and k.endswith(("_RATE", "_BURST"))
}


# The bursts under test, without the refill a slow machine would add while a test runs
# (a guessed password costs ~0.1 s of hashing); the rates are test_ratelimit.py's.
NO_REFILL = {"CONNECT_RATE": 1e-6, "SIGNUP_RATE": 1e-6, "RESUME_RATE": 1e-6}


@pytest.fixture
def limited_app(make_app):
    """Builds an app with the default handshake limits (and ``config``); closes its clients."""
    opened: list[SocketClient] = []

    def build(**config):
        app = make_app(**{**LIMITS, **config})

        def connect(**auth) -> SocketClient:
            client = SocketClient(app, socketio, auth=auth)
            opened.append(client)
            return client

        app.connect = connect  # type: ignore[attr-defined]
        return app

    yield build
    for client in opened:
        if client.is_connected():
            client.disconnect()


@pytest.fixture
def limited(limited_app):
    """The default bursts, with ``NO_REFILL``."""
    return limited_app(**NO_REFILL)


def refusal(client: SocketClient) -> str | None:
    return None if client.is_connected() else (client.connect_error or {}).get("message")


def test_a_thousand_live_sessions_behind_one_address_all_get_back_in(limited_app):
    limited = limited_app()  # every default, the rates included
    with limited.app_context():
        tokens = [store.login(f"user{i:04}")[1] for i in range(1000)]
    started = time.monotonic()
    refused = [refusal(c) for c in (limited.connect(sessionID=t) for t in tokens)]
    elapsed = time.monotonic() - started
    assert refused == [None] * 1000
    print(f"1,000 resumes from one address: {elapsed:.1f} s, none refused")


@pytest.mark.parametrize(
    "auth",
    [lambda i: {"username": f"new{i}"}, lambda i: {"username": "owner", "password": f"guess{i}"}],
    ids=["new users", "password guesses"],
)
def test_logins_by_name_from_one_address_are_limited(limited, auth):
    with limited.app_context():
        owner_token = store.login("owner", "the right one")[1]
    burst = DEFAULTS["SIGNUP_BURST"]
    results = [refusal(limited.connect(**auth(i))) for i in range(burst + 1)]
    allowed = results[:burst]
    assert set(allowed) <= {None, "username taken"} and len(set(allowed)) == 1
    assert results[burst] == "rate limited"
    with limited.app_context():
        users = db.session.scalar(select(func.count()).select_from(User))
    # A refused new user leaves no name behind; guesses never created any.
    assert users == (1 + burst if allowed[0] is None else 1)
    # Those with a live session behind the same address are not held back.
    assert refusal(limited.connect(sessionID=owner_token)) is None


def test_garbage_from_one_address_is_limited_after_a_generous_burst(limited):
    burst = DEFAULTS["CONNECT_BURST"]
    junk = [{}, {"sessionID": "not-a-session"}, {"sessionID": 5, "username": ["x"]}]
    results = [refusal(limited.connect(**junk[i % 3])) for i in range(burst)]
    assert set(results) == {"invalid username"}
    assert refusal(limited.connect(sessionID="still-not-one")) == "rate limited"


def test_one_session_reconnecting_in_a_loop_is_limited_alone(limited):
    with limited.app_context():
        looping = store.login("looping")[1]
        other = store.login("other")[1]
    burst = DEFAULTS["RESUME_BURST"]
    results = []
    for _ in range(burst + 1):
        client = limited.connect(sessionID=looping)
        results.append(refusal(client))
        if client.is_connected():
            client.disconnect()
    assert results == [None] * burst + ["rate limited"]
    assert refusal(limited.connect(sessionID=other)) is None
