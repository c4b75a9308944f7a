"""PROTOCOL.md B7: deleting one's own message for everyone, erased from storage, counts right."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from chat.attachment_models import Attachment, AttachmentChunk
from chat.extensions import db
from chat.models import Message, ReadState
from tests.attachments_support import person


def state(app, user_id: str, peer_id: str) -> tuple[int, int, int]:
    """(up_to, last_id, unread) of one side of a conversation."""
    with app.app_context():
        row = db.session.get(ReadState, (user_id, peer_id))
        return row.up_to, row.last_id, row.unread


def test_a_delete_reaches_every_other_tab_of_both_and_leaves_every_history(app, connect_as):
    bob = connect_as("bob")
    bob2 = connect_as(session_id=bob.session_id)
    alice = connect_as("alice")
    alice2 = connect_as(session_id=alice.session_id)
    keep = alice.send(bob.user_id, "keep")["message"]["id"]
    gone = alice.send(bob.user_id, "oops, wrong person")["message"]["id"]
    for tab in (bob, bob2, alice, alice2):
        tab.clear()

    ack = alice.emit("delete message", {"id": gone})

    assert ack == {"ok": True, "id": gone}
    event = {"id": gone, "from": alice.user_id, "to": bob.user_id}
    for tab in (bob, bob2, alice2):
        assert tab.received("message deleted") == [event]
    assert alice.received("message deleted") == []
    for tab, peer in ((bob, alice), (alice, bob)):
        fetched = tab.emit("fetch messages", {"with": peer.user_id})["messages"]
        assert [m["id"] for m in fetched] == [keep]
    back = connect_as(session_id=bob.session_id)
    [entry] = [u for u in back.first("users") if u["userID"] == alice.user_id]
    assert [m["id"] for m in entry["messages"]] == [keep]
    assert entry["unread"] == 1
    with app.app_context():
        row = db.session.get(Message, gone)
        assert row.content == "" and row.deleted_at is not None  # erased, not hidden


def test_unread_and_newest_message_stay_right(app, connect_as):
    bob = connect_as("bob")
    alice = connect_as("alice")
    first = alice.send(bob.user_id, "one")["message"]["id"]
    second = alice.send(bob.user_id, "two")["message"]["id"]
    assert state(app, bob.user_id, alice.user_id) == (0, second, 2)

    alice.emit("delete message", {"id": second})
    assert state(app, bob.user_id, alice.user_id) == (0, first, 1)
    assert state(app, alice.user_id, bob.user_id) == (0, first, 0)

    # A message already read no longer counts: deleting it leaves the count alone.
    assert bob.emit("read", {"with": alice.user_id, "upTo": first})["upTo"] == first
    third = alice.send(bob.user_id, "three")["message"]["id"]
    alice.emit("delete message", {"id": first})
    assert state(app, bob.user_id, alice.user_id) == (first, third, 1)

    alice.emit("delete message", {"id": third})
    assert state(app, bob.user_id, alice.user_id)[1:] == (0, 0)
    # The empty conversation is no longer among the recent ones.
    back = connect_as(session_id=bob.session_id)
    [entry] = [u for u in back.first("users") if u["userID"] == alice.user_id]
    assert entry["messages"] == [] and entry["unread"] == 0


def test_deleting_again_acks_the_same_and_anothers_message_is_not_found(connect_as):
    bob = connect_as("bob")
    alice = connect_as("alice")
    mine = alice.send(bob.user_id, "mine")["message"]["id"]
    theirs = bob.send(alice.user_id, "theirs")["message"]["id"]
    assert alice.emit("delete message", {"id": mine}) == {"ok": True, "id": mine}
    bob.clear()
    assert alice.emit("delete message", {"id": mine}) == {"ok": True, "id": mine}
    # The retry relays again: the first relay may be what was lost.
    assert [e["id"] for e in bob.received("message deleted")] == [mine]
    assert alice.emit("delete message", {"id": theirs})["error"] == "not_found"
    assert bob.emit("delete message", {"id": mine})["error"] == "not_found"
    assert len(alice.emit("fetch messages", {"with": bob.user_id})["messages"]) == 1


def test_a_late_retry_of_the_send_does_not_bring_it_back(app, connect_as):
    bob = connect_as("bob")
    alice = connect_as("alice")
    sent = alice.send(bob.user_id, "secret", clientId="c-9")["message"]
    alice.emit("delete message", {"id": sent["id"]})
    bob.clear()
    retry = alice.send(bob.user_id, "secret", clientId="c-9")
    assert retry["ok"] is True and retry["message"]["id"] == sent["id"]
    assert retry["message"]["content"] == ""
    assert bob.received("private message") == []
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Message)) == 1


def test_deleting_removes_the_attachments_bytes(app, connect_as):
    alice_http = person(app, "alice")
    bob = connect_as("bob")
    alice = connect_as(session_id=alice_http.token)
    upload = alice_http.upload(b"private bytes", "note.txt").get_json()
    sent = alice.send(bob.user_id, "", attachments=[upload["id"]])["message"]
    assert alice_http.get(upload["url"]).status_code == 200

    alice.emit("delete message", {"id": sent["id"]})

    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Attachment)) == 0
        assert db.session.scalar(select(func.count()).select_from(AttachmentChunk)) == 0
    assert alice_http.get(upload["url"]).status_code == 404


def test_deleting_still_works_while_blocked(connect_as):
    bob = connect_as("bob")
    alice = connect_as("alice")
    mine = alice.send(bob.user_id, "before the block")["message"]["id"]
    bob.emit("block", {"userID": alice.user_id})
    assert alice.emit("delete message", {"id": mine}) == {"ok": True, "id": mine}


@pytest.mark.parametrize(
    "payload",
    [None, {}, {"id": None}, {"id": "3"}, {"id": -1}, {"id": 2**63}, {"id": 1.5}, [1]],
    ids=repr,
)
def test_bad_delete_is_refused(connect_as, payload):
    bob = connect_as("bob")
    alice = connect_as("alice")
    alice.send(bob.user_id, "stays")
    ack = alice.emit("delete message", payload)
    assert ack["ok"] is False and ack["error"] == "invalid_payload"
    assert len(alice.emit("fetch messages", {"with": bob.user_id})["messages"]) == 1
