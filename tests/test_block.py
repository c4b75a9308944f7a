"""PROTOCOL.md B8: blocking is stored and enforced for messages, edits, typing, reads, presence."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from chat import admin
from chat.extensions import db, socketio
from chat.models import Block, Message
from tests.support.inprocess import SocketClient, Tab, open_tab
from tests.support.pages import login


def stored(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Message))


def entry(tab: Tab, user_id: str) -> dict:
    [found] = [u for u in tab.first("users") if u["userID"] == user_id]
    return found


def test_block_and_unblock_ack_the_state_and_are_idempotent(connect_as):
    bob = connect_as("bob")
    alice = connect_as("alice")
    blocked = {"ok": True, "userID": bob.user_id, "blocked": True}
    unblocked = {**blocked, "blocked": False}
    assert alice.emit("block", {"userID": bob.user_id}) == blocked
    assert alice.emit("block", {"userID": bob.user_id}) == blocked
    assert entry(connect_as(session_id=alice.session_id), bob.user_id)["blocked"] is True
    assert alice.emit("unblock", {"userID": bob.user_id}) == unblocked
    assert alice.emit("unblock", {"userID": bob.user_id}) == unblocked
    assert entry(connect_as(session_id=alice.session_id), bob.user_id)["blocked"] is False


ME = object()
BAD_BLOCKS = [
    (None, "invalid_payload"),
    ({}, "invalid_payload"),
    ({"userID": 5}, "invalid_payload"),
    ({"userID": ["x"]}, "invalid_payload"),
    ({"userID": ""}, "invalid_payload"),
    ({"userID": ME}, "invalid_payload"),
    ({"userID": "nobody-at-all"}, "unknown_recipient"),
]


@pytest.mark.parametrize("event", ["block", "unblock"])
@pytest.mark.parametrize(("payload", "code"), BAD_BLOCKS, ids=repr)
def test_bad_block_is_refused(app, connect_as, event, payload, code):
    alice = connect_as("alice")
    if isinstance(payload, dict) and payload.get("userID") is ME:
        payload = {"userID": alice.user_id}
    ack = alice.emit(event, payload)
    assert ack["ok"] is False and ack["error"] == code, ack
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Block)) == 0


@pytest.mark.parametrize("blocker", ["alice", "bob"])
def test_messages_and_edits_between_them_are_refused_both_ways(app, connect_as, blocker):
    bob = connect_as("bob")
    alice = connect_as("alice")
    earlier = alice.send(bob.user_id, "before")["message"]["id"]
    tabs = {"alice": (alice, bob), "bob": (bob, alice)}
    me, them = tabs[blocker]
    me.emit("block", {"userID": them.user_id})
    bob.clear()
    alice.clear()

    for sender, recipient in ((alice, bob), (bob, alice)):
        ack = sender.send(recipient.user_id, "hello?", clientId=f"c-{sender.user_id}")
        assert ack["ok"] is False and ack["error"] == "blocked"
    assert alice.emit("edit message", {"id": earlier, "content": "after"})["error"] == "blocked"
    assert stored(app) == 1
    assert bob.received("private message") == alice.received("private message") == []
    assert bob.received("message edited") == []
    # History, fetch and one's own read state still work.
    assert [m["id"] for m in bob.emit("fetch messages", {"with": alice.user_id})["messages"]] == [
        earlier
    ]
    assert bob.emit("read", {"with": alice.user_id, "upTo": earlier})["upTo"] == earlier
    # Unblocked, they talk again.
    me.emit("unblock", {"userID": them.user_id})
    assert alice.send(bob.user_id, "friends again")["ok"] is True


@pytest.mark.parametrize("blocker", ["alice", "bob"])
def test_typing_and_read_receipts_are_not_relayed_but_reach_the_readers_tabs(connect_as, blocker):
    bob = connect_as("bob")
    bob2 = connect_as(session_id=bob.session_id)
    alice = connect_as("alice")
    sent = alice.send(bob.user_id, "hi")["message"]["id"]
    people = {"alice": (alice, bob), "bob": (bob, alice)}
    me, them = people[blocker]
    me.emit("block", {"userID": them.user_id})
    for tab in (alice, bob, bob2):
        tab.clear()

    assert bob.emit("typing", {"to": alice.user_id})["ok"] is True
    assert alice.emit("typing", {"to": bob.user_id})["ok"] is True
    assert bob.emit("read", {"with": alice.user_id, "upTo": sent})["upTo"] == sent

    assert alice.received("typing") == bob.received("typing") == []
    assert alice.received("read") == []
    assert bob2.received("read") == [{"by": bob.user_id, "with": alice.user_id, "upTo": sent}]


def test_the_blocked_user_learns_nothing_of_the_blockers_presence(connect_as):
    bob = connect_as("bob")
    alice = connect_as("alice")
    carol = connect_as("carol")
    alice.emit("block", {"userID": bob.user_id})
    alice.close()
    bob.clear()
    carol.clear()

    back = connect_as(session_id=alice.session_id)
    second = connect_as(session_id=alice.session_id)
    second.close()
    back.close()
    assert bob.received("user connected") == bob.received("user disconnected") == []
    # Others hear each connection (A2.5) and the last disconnection.
    assert [u["userID"] for u in carol.received("user connected")] == [alice.user_id] * 2
    assert carol.received("user disconnected") == [alice.user_id]

    alice_again = connect_as(session_id=alice.session_id)
    fresh = connect_as(session_id=bob.session_id)
    seen = entry(fresh, alice.user_id)
    assert seen["connected"] is False and seen["lastSeen"] is None and seen["blocked"] is False
    # What the blocker sees of the blocked user is unchanged.
    mine = entry(alice_again, bob.user_id)
    assert mine["connected"] is True and mine["blocked"] is True


def test_presence_to_a_named_audience_skips_the_blocked_too(make_app):
    app = make_app(USERS_LIST_LIMIT=2)  # more online than the list: announced to contacts
    bob = open_tab(app, username="bob")
    alice = open_tab(app, username="alice")
    carol = open_tab(app, username="carol")
    alice.send(bob.user_id, "hi")
    alice.send(carol.user_id, "hi")
    alice.emit("block", {"userID": bob.user_id})
    alice.close()
    bob.clear()
    carol.clear()
    back = open_tab(app, sessionID=alice.session_id)
    back.close()
    assert bob.received("user connected") == bob.received("user disconnected") == []
    assert [u["userID"] for u in carol.received("user connected")] == [alice.user_id]
    assert carol.received("user disconnected") == [alice.user_id]


def test_people_search_shows_the_blocked_user_the_blocker_without_status(app, connect_as):
    bob_http = app.test_client()
    login(bob_http, "bob")
    bob = Tab(SocketClient(app, socketio, flask_test_client=bob_http))
    alice = connect_as("alice")
    alice.emit("block", {"userID": bob.user_id})
    alice.close()  # last seen set: it must not show either

    [found] = bob_http.get("/api/users?q=alice").get_json()["users"]
    assert found == {
        "userID": alice.user_id,
        "username": "alice",
        "connected": False,
        "lastSeen": None,
    }
    one = bob_http.get(f"/api/users/{alice.user_id}").get_json()["user"]
    assert one["connected"] is False and one["lastSeen"] is None
    # The blocker still finds the people it blocked, with their status.
    back = connect_as(session_id=alice.session_id)
    assert entry(back, bob.user_id)["connected"] is True


def test_a_block_holds_across_restarts(make_app):
    first = make_app()
    bob = open_tab(first, username="bob")
    alice = open_tab(first, username="alice")
    alice.emit("block", {"userID": bob.user_id})
    bob.close()
    alice.close()
    second = make_app()
    bob = open_tab(second, sessionID=bob.session_id)
    assert bob.send(alice.user_id, "anyone?")["error"] == "blocked"


def test_removing_a_user_removes_its_blocks(app, connect_as):
    bob = connect_as("bob")
    alice = connect_as("alice")
    carol = connect_as("carol")
    alice.emit("block", {"userID": bob.user_id})
    bob.emit("block", {"userID": carol.user_id})
    with app.app_context():
        admin.remove_user(bob.user_id)
        assert db.session.scalar(select(func.count()).select_from(Block)) == 0
    assert alice.emit("unblock", {"userID": bob.user_id})["error"] == "unknown_recipient"
