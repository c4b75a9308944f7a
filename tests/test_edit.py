"""PROTOCOL.md B7: editing one's own message within EDIT_WINDOW_S, and its errors in B6's order."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from chat.extensions import db
from chat.models import Message, utcnow
from tests.support.inprocess import open_tab
from tests.test_relay import ISO_UTC

MINE, THEIRS, DELETED, OLD, NONE = "mine", "theirs", "deleted", "old", "none"


def age(app, message_id: int, seconds: float) -> None:
    """Moves a message's createdAt into the past."""
    with app.app_context():
        db.session.execute(
            update(Message)
            .where(Message.id == message_id)
            .values(created_at=utcnow() - timedelta(seconds=seconds))
        )
        db.session.commit()


def test_an_edit_reaches_every_other_tab_of_both_and_shows_in_history(connect_as):
    bob = connect_as("bob")
    bob2 = connect_as(session_id=bob.session_id)
    alice = connect_as("alice")
    alice2 = connect_as(session_id=alice.session_id)
    sent = alice.send(bob.user_id, "helo", clientId="c1")["message"]
    for tab in (bob, bob2, alice, alice2):
        tab.clear()

    ack = alice.emit("edit message", {"id": sent["id"], "content": "hello"})

    assert ack["ok"] is True
    edited = ack["message"]
    assert edited["content"] == "hello" and ISO_UTC.match(edited["editedAt"])
    assert edited["createdAt"] == sent["createdAt"] and edited["clientId"] == "c1"
    assert edited["attachments"] == []
    event = {
        "id": sent["id"],
        "from": alice.user_id,
        "to": bob.user_id,
        "content": "hello",
        "editedAt": edited["editedAt"],
    }
    for tab in (bob, bob2, alice2):
        assert tab.received("message edited") == [event]
    assert alice.received("message edited") == []
    fetched = bob.emit("fetch messages", {"with": alice.user_id})["messages"]
    assert [(m["content"], m["editedAt"]) for m in fetched] == [("hello", edited["editedAt"])]
    back = connect_as(session_id=bob.session_id)
    [entry] = [u for u in back.first("users") if u["userID"] == alice.user_id]
    assert entry["messages"][0]["content"] == "hello"
    assert entry["messages"][0]["editedAt"] == edited["editedAt"]


def test_the_window_runs_from_created_at_and_an_edit_does_not_extend_it(make_app):
    app = make_app(EDIT_WINDOW_S=60)
    bob = open_tab(app, username="bob")
    alice = open_tab(app, username="alice")
    msg = alice.send(bob.user_id, "one")["message"]
    age(app, msg["id"], 50)
    assert alice.emit("edit message", {"id": msg["id"], "content": "two"})["ok"] is True
    age(app, msg["id"], 61)
    ack = alice.emit("edit message", {"id": msg["id"], "content": "three"})
    assert ack["error"] == "too_late"
    bob.clear()
    fetched = bob.emit("fetch messages", {"with": alice.user_id})["messages"]
    assert fetched[0]["content"] == "two"


def _target(app, alice, bob, carol, kind: str) -> int:
    if kind == NONE:
        return 999_999
    if kind == THEIRS:
        return bob.send(alice.user_id, "bob's")["message"]["id"]
    msg_id = alice.send(bob.user_id, "alice's")["message"]["id"]
    if kind == DELETED:
        assert alice.emit("delete message", {"id": msg_id})["ok"] is True
    if kind == OLD:
        age(app, msg_id, 901)
    return msg_id


# (payload with ID standing for the target, target, blocked between them, expected code)
ID = object()
BAD_EDITS = [
    (None, MINE, False, "invalid_payload"),
    ({"content": "x"}, MINE, False, "invalid_payload"),
    ({"id": ID}, MINE, False, "invalid_payload"),
    ({"id": "1", "content": "x"}, MINE, False, "invalid_payload"),
    ({"id": -1, "content": "x"}, MINE, False, "invalid_payload"),
    ({"id": ID, "content": 5}, MINE, False, "invalid_payload"),
    ({"id": ID, "content": "   "}, MINE, False, "empty"),
    ({"id": ID, "content": "x" * 4001}, MINE, False, "too_long"),
    ({"id": ID, "content": "x"}, NONE, False, "not_found"),
    ({"id": ID, "content": "x"}, THEIRS, False, "not_found"),
    ({"id": ID, "content": "x"}, DELETED, False, "not_found"),
    ({"id": ID, "content": "x"}, MINE, True, "blocked"),
    ({"id": ID, "content": "x"}, OLD, False, "too_late"),
    # B6's order when several apply
    ({"id": "1", "content": ""}, MINE, False, "invalid_payload"),
    ({"id": "1", "content": "x" * 4001}, MINE, True, "invalid_payload"),
    ({"id": ID, "content": ""}, THEIRS, True, "empty"),
    ({"id": ID, "content": "x" * 4001}, OLD, True, "too_long"),
    ({"id": ID, "content": "x"}, THEIRS, True, "not_found"),
    ({"id": ID, "content": "x"}, NONE, True, "not_found"),
    ({"id": ID, "content": "x"}, OLD, True, "blocked"),
]


@pytest.mark.parametrize(("payload", "kind", "blocked", "code"), BAD_EDITS, ids=repr)
def test_bad_edit_is_refused_and_changes_nothing(app, connect_as, payload, kind, blocked, code):
    bob = connect_as("bob")
    alice = connect_as("alice")
    carol = connect_as("carol")
    target = _target(app, alice, bob, carol, kind)
    if blocked:
        assert bob.emit("block", {"userID": alice.user_id})["blocked"] is True
    before = alice.emit("fetch messages", {"with": bob.user_id})["messages"]
    bob.clear()
    if isinstance(payload, dict):
        payload = {k: target if v is ID else v for k, v in payload.items()}

    ack = alice.emit("edit message", payload)

    assert ack["ok"] is False and ack["error"] == code, ack
    assert isinstance(ack["detail"], str) and ack["detail"]
    assert bob.received("message edited") == []
    assert alice.emit("fetch messages", {"with": bob.user_id})["messages"] == before


def test_an_edit_is_rate_limited(make_app):
    app = make_app(EDIT_BURST=2, EDIT_RATE=0.001)
    bob = open_tab(app, username="bob")
    alice = open_tab(app, username="alice")
    msg = alice.send(bob.user_id, "x")["message"]
    acks = [alice.emit("edit message", {"id": msg["id"], "content": f"v{i}"}) for i in range(3)]
    assert [a["ok"] for a in acks] == [True, True, False]
    assert acks[2]["error"] == "rate_limited" and acks[2]["retryAfterMs"] > 0
