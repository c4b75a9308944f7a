"""PROTOCOL.md B6: every bad payload gets an error ack, is never stored or relayed."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from chat.extensions import db
from chat.models import Message
from tests.support.inprocess import open_tab

TO = object()  # replaced by bob's userID


def materialise(payload, bob_id):
    if payload is TO:
        return bob_id
    if isinstance(payload, dict):
        return {k: materialise(v, bob_id) for k, v in payload.items()}
    return payload


BAD_MESSAGES = [
    (None, "invalid_payload"),
    ([1, 2], "invalid_payload"),
    (42, "invalid_payload"),
    ("hello", "invalid_payload"),
    ({}, "invalid_payload"),
    ({"content": "hi"}, "invalid_payload"),
    ({"to": TO}, "invalid_payload"),
    ({"content": None, "to": TO}, "invalid_payload"),
    ({"content": 42, "to": TO}, "invalid_payload"),
    ({"content": ["hi"], "to": TO}, "invalid_payload"),
    ({"content": {"x": 1}, "to": TO}, "invalid_payload"),
    ({"content": "hi", "to": None}, "invalid_payload"),
    ({"content": "hi", "to": 7}, "invalid_payload"),
    ({"content": "hi", "to": ""}, "invalid_payload"),
    ({"content": "hi", "to": "x" * 33}, "invalid_payload"),
    ({"content": "hi", "to": "nobody-at-all"}, "unknown_recipient"),
    ({"content": "", "to": TO}, "empty"),
    ({"content": "   \n\t", "to": TO}, "empty"),
    ({"content": "x" * 4001, "to": TO}, "too_long"),
    ({"content": "hi", "to": TO, "clientId": ""}, "invalid_payload"),
    ({"content": "hi", "to": TO, "clientId": 5}, "invalid_payload"),
    ({"content": "hi", "to": TO, "clientId": "c" * 65}, "invalid_payload"),
    # PostgreSQL's text cannot hold NUL: refused alike on both databases, never "unavailable".
    ({"content": "nul\x00inside", "to": TO}, "invalid_payload"),
    ({"content": "hi", "to": "bo\x00b"}, "invalid_payload"),
    ({"content": "hi", "to": TO, "clientId": "c\x00"}, "invalid_payload"),
    ({"content": "hi", "to": TO, "attachments": ["a\x00"]}, "invalid_payload"),
]


@pytest.mark.parametrize(("payload", "code"), BAD_MESSAGES, ids=repr)
def test_bad_private_message_is_refused(app, connect_as, payload, code):
    bob = connect_as("bob")
    alice = connect_as("alice")
    bob.clear()
    ack = alice.emit("private message", materialise(payload, bob.user_id))
    assert ack["ok"] is False
    assert ack["error"] == code
    assert isinstance(ack["detail"], str) and ack["detail"]
    assert bob.received("private message") == []
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Message)) == 0
    # The sender's socket is still usable, and so are others'.
    assert alice.client.is_connected() and bob.client.is_connected()
    assert alice.send(bob.user_id, "still works")["ok"] is True


def test_message_of_exactly_max_length_is_accepted(connect_as):
    bob = connect_as("bob")
    alice = connect_as("alice")
    assert alice.send(bob.user_id, "x" * 4000)["ok"] is True


def test_max_length_is_configurable(make_app):
    app = make_app(MAX_MESSAGE_LENGTH=10)
    bob = open_tab(app, username="bob")
    alice = open_tab(app, username="alice")
    assert alice.send(bob.user_id, "x" * 11)["error"] == "too_long"
    assert alice.send(bob.user_id, "x" * 10)["ok"] is True


BAD_OTHERS = [
    ("fetch messages", None),
    ("fetch messages", {}),
    ("fetch messages", {"with": 5}),
    ("fetch messages", {"with": TO, "before": "x"}),
    ("fetch messages", {"with": TO, "before": -1}),
    ("fetch messages", {"with": TO, "limit": 0}),
    ("fetch messages", {"with": TO, "limit": 10_000}),
    ("read", None),
    ("read", {"with": TO}),
    ("read", {"with": TO, "upTo": "1"}),
    ("read", {"with": TO, "upTo": 1.5}),
    ("typing", None),
    ("typing", {"to": 3}),
    ("typing", []),
]


@pytest.mark.parametrize(("event", "payload"), BAD_OTHERS, ids=repr)
def test_bad_payloads_of_other_events_are_refused(connect_as, event, payload):
    bob = connect_as("bob")
    alice = connect_as("alice")
    ack = alice.emit(event, materialise(payload, bob.user_id))
    assert ack == {"ok": False, "error": "invalid_payload", "detail": ack["detail"]}
    assert alice.client.is_connected() and bob.client.is_connected()


def test_unknown_events_are_ignored(connect_as):
    bob = connect_as("bob")
    alice = connect_as("alice")
    bob.clear()
    alice.client.emit("no such event", {"x": 1})
    alice.client.emit("user connected", {"userID": "forged"})
    assert bob.received() == []
    assert alice.send(bob.user_id, "fine")["ok"] is True


def test_extra_arguments_and_extra_keys_are_tolerated(connect_as):
    bob = connect_as("bob")
    alice = connect_as("alice")
    ack = alice.client.emit(
        "private message", {"content": "hi", "to": bob.user_id, "extra": [1]}, "more", callback=True
    )
    assert ack["ok"] is True
