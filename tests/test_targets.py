"""PROTOCOL.md B5/B6: an event naming a user accepts only an existing user's userID.

One rule (chat.targets, applied by chat.dispatch) for every event that names a target:
never another socket's id (each socket is in a room of its own id), never any other room.
"""

from __future__ import annotations

import pytest

from chat import targets
from chat.admin import remove_user
from chat.extensions import db, socketio
from chat.models import User

# Each event naming a user, with the field that names it.
EVENTS = [
    ("typing", lambda to: {"to": to}),
    ("read", lambda to: {"with": to, "upTo": 1}),
    ("fetch messages", lambda to: {"with": to}),
    ("private message", lambda to: {"content": "hi", "to": to}),
]
BOB_SID = object()  # replaced by the socket id of bob's tab
ALICE_SID = object()  # the sender's own socket id
NOT_USERS = [BOB_SID, ALICE_SID, "nobody", "/", "0" * 16]


def sid_of(tab) -> str:
    return socketio.server.manager.sid_from_eio_sid(tab.client.eio_sid, "/")


@pytest.mark.parametrize("bad", NOT_USERS, ids=["bob's sid", "own sid", "nobody", "/", "zeros"])
@pytest.mark.parametrize(("event", "payload"), EVENTS, ids=[e[0] for e in EVENTS])
def test_a_target_that_is_no_user_is_refused_and_nothing_reaches_any_room(
    connect_as, event, payload, bad
):
    bob = connect_as("bob")
    alice = connect_as("alice")
    name = {BOB_SID: sid_of(bob), ALICE_SID: sid_of(alice)}.get(bad, bad)
    bob.clear()
    alice.clear()
    ack = alice.emit(event, payload(name))
    assert ack == {"ok": False, "error": "unknown_recipient", "detail": targets.DETAIL}
    assert bob.received() == [] and alice.received() == []


def test_typing_reaches_an_existing_user_only(connect_as):
    bob = connect_as("bob")
    alice = connect_as("alice")
    bob.clear()
    assert alice.emit("typing", {"to": bob.user_id}) == {"ok": True}
    assert bob.received("typing") == [{"from": alice.user_id}]


def test_a_removed_user_is_still_a_target_for_its_history(app, connect_as):
    bob = connect_as("bob")
    alice = connect_as("alice")
    sent = alice.send(bob.user_id, "before the removal")["message"]
    assert bob.emit("typing", {"to": alice.user_id}) == {"ok": True}  # cached as active
    with app.app_context():
        remove_user(alice.user_id)
    # The tombstone keeps its messages: they can be fetched and read.
    fetched = bob.emit("fetch messages", {"with": alice.user_id})
    assert [m["id"] for m in fetched["messages"]] == [sent["id"]]
    assert bob.emit("read", {"with": alice.user_id, "upTo": sent["id"]})["ok"] is True
    # Writing to it is refused by the store, the same code.
    assert bob.send(alice.user_id, "hello?")["error"] == "unknown_recipient"


def test_known_users_cache_hits_skip_the_database_and_expire(app, connect_as, monkeypatch):
    bob = connect_as("bob")
    now = [0.0]
    known = targets.KnownUsers(ttl=10, clock=lambda: now[0])
    queries = []
    real = targets.store.user_status
    monkeypatch.setattr(targets.store, "user_status", lambda uid: queries.append(uid) or real(uid))
    with app.app_context():
        assert [known.exists(bob.user_id) for _ in range(3)] == [True] * 3
        assert queries == [bob.user_id]  # one query, then the cache
        assert known.exists("nobody") is False and known.exists("nobody") is False
        assert queries.count("nobody") == 2  # misses are never cached: a new user counts
        # A tombstone deleted for good (purge-messages, another process) is forgotten
        # once its entry expires.
        db.session.delete(db.session.get(User, bob.user_id))
        db.session.commit()
        assert known.exists(bob.user_id) is True
        now[0] += 11
        assert known.exists(bob.user_id) is False
