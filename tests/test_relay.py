"""PROTOCOL.md A3, B1, B2: private messages, their identity, acks and idempotent retries."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from chat.extensions import db
from chat.models import Message

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def stored_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Message))


def test_message_reaches_recipient_and_senders_other_tabs_not_sender(connect_as):
    bob = connect_as("bob")
    alice = connect_as("alice")
    alice2 = connect_as(session_id=alice.session_id)
    for tab in (bob, alice, alice2):
        tab.clear()
    ack = alice.send(bob.user_id, "hello bob")
    assert ack["ok"] is True
    relayed = {"content": "hello bob", "from": alice.user_id, "to": bob.user_id}
    for tab in (bob, alice2):
        [got] = tab.received("private message")
        assert {k: got[k] for k in relayed} == relayed
        assert got["id"] == ack["message"]["id"]
    assert alice.received("private message") == []


def test_from_is_the_session_never_the_client(connect_as):
    bob = connect_as("bob")
    alice = connect_as("alice")
    mallory = connect_as("mallory")
    bob.clear()
    mallory.send(bob.user_id, "it's alice, honest", **{"from": alice.user_id})
    [got] = bob.received("private message")
    assert got["from"] == mallory.user_id


def test_message_to_self_reaches_other_tabs_once_and_is_stored_once(app, connect_as):
    alice = connect_as("alice")
    alice2 = connect_as(session_id=alice.session_id)
    alice2.clear()
    ack = alice.send(alice.user_id, "note to self")
    assert ack["ok"]
    assert [m["content"] for m in alice2.received("private message")] == ["note to self"]
    assert alice.received("private message") == []
    assert stored_count(app) == 1


def test_offline_recipient_gets_message_in_next_users(connect_as):
    bob = connect_as("bob")
    bob.close()
    alice = connect_as("alice")
    alice.send(bob.user_id, "while you were out")
    back = connect_as(session_id=bob.session_id)
    users = {u["userID"]: u for u in back.first("users")}
    [msg] = users[alice.user_id]["messages"]
    assert msg["content"] == "while you were out"
    assert msg["from"] == alice.user_id and msg["to"] == bob.user_id
    assert users[alice.user_id]["unread"] == 1


def test_history_in_users_is_oldest_first_for_both_sides(connect_as):
    bob = connect_as("bob")
    alice = connect_as("alice")
    alice.send(bob.user_id, "one")
    bob.send(alice.user_id, "two")
    alice.send(bob.user_id, "three")
    alice.close()
    again = connect_as(session_id=alice.session_id)
    users = {u["userID"]: u for u in again.first("users")}
    assert [m["content"] for m in users[bob.user_id]["messages"]] == ["one", "two", "three"]


def test_ids_increase_and_created_at_is_iso_utc(connect_as):
    bob = connect_as("bob")
    alice = connect_as("alice")
    acks = [alice.send(bob.user_id, f"m{i}") for i in range(5)]
    ids = [a["message"]["id"] for a in acks]
    assert ids == sorted(ids) and len(set(ids)) == 5
    for ack in acks:
        assert ISO_UTC.match(ack["message"]["createdAt"])


def test_ack_carries_the_stored_message_and_client_id(connect_as):
    bob = connect_as("bob")
    alice = connect_as("alice")
    ack = alice.send(bob.user_id, "with id", clientId="c-1")
    assert ack["ok"] is True
    message = ack["message"]
    assert message["clientId"] == "c-1"
    assert message["from"] == alice.user_id and message["to"] == bob.user_id
    assert message["content"] == "with id"
    assert bob.received("private message")[-1]["clientId"] == "c-1"


def test_retry_with_same_client_id_stores_nothing_new(app, connect_as):
    bob = connect_as("bob")
    alice = connect_as("alice")
    first = alice.send(bob.user_id, "once", clientId="retry-me")
    second = alice.send(bob.user_id, "once", clientId="retry-me")
    assert second == first
    assert stored_count(app) == 1
    # Another sender may use the same clientId: it is unique per sender only.
    other = bob.send(alice.user_id, "mine", clientId="retry-me")
    assert other["ok"] and other["message"]["id"] != first["message"]["id"]
    assert stored_count(app) == 2


def test_message_without_ack_is_still_relayed(connect_as):
    bob = connect_as("bob")
    alice = connect_as("alice")
    bob.clear()
    alice.client.emit("private message", {"content": "fire and forget", "to": bob.user_id})
    assert [m["content"] for m in bob.received("private message")] == ["fire and forget"]


def test_storage_failure_acks_unavailable_and_relays_nothing(app, connect_as, monkeypatch):
    from sqlalchemy.exc import OperationalError

    bob = connect_as("bob")
    alice = connect_as("alice")
    bob.clear()

    def broken(*_args, **_kwargs):
        raise OperationalError("COMMIT", {}, Exception("database is gone"))

    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            # There the batch's one statement commits itself (autocommit, one round trip):
            # its failure is the failing commit.
            monkeypatch.setattr(Connection, "exec_driver_sql", broken)
        else:
            monkeypatch.setattr(db.session.registry().__class__, "commit", broken)
        ack = alice.send(bob.user_id, "into the void")
    monkeypatch.undo()
    assert ack["ok"] is False and ack["error"] == "unavailable"
    assert bob.received("private message") == []
    assert stored_count(app) == 0
    assert alice.send(bob.user_id, "after recovery")["ok"] is True
