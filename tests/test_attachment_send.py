"""PROTOCOL.md B10 sending: attachments on a private message, claimed with it or not at all."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from chat.attachment_models import Attachment
from chat.extensions import db
from chat.models import Message
from tests.attachments_support import Person, person, png


@pytest.fixture
def people(app, connect_as):
    """alice and carol with HTTP sessions (uploads) and a tab each; bob with a tab."""
    alice_http, carol_http = person(app, "alice"), person(app, "carol")
    bob = connect_as("bob")
    alice = connect_as(session_id=alice_http.token)
    return alice_http, alice, bob, carol_http


def stored(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Message))


def test_a_message_with_attachments_reaches_both_sides_with_its_files(app, people, connect_as):
    alice_http, alice, bob, _ = people
    image = alice_http.upload(png(40, 30), "cat.png").get_json()
    doc = alice_http.upload(b"%PDF-1.4 ...", "plan.pdf").get_json()
    alice2 = connect_as(session_id=alice_http.token)
    bob.clear()

    ack = alice.send(bob.user_id, "", attachments=[doc["id"], image["id"]], clientId="a-1")

    assert ack["ok"] is True
    message = ack["message"]
    assert message["content"] == "plan.pdf, cat.png"  # what a client ignoring files shows
    assert message["attachments"] == [doc, image]
    assert message["attachments"][1]["width"] == 40 and "width" not in doc
    for tab in (bob, alice2):
        assert tab.received("private message") == [message]
    fetched = bob.emit("fetch messages", {"with": alice.user_id})["messages"]
    assert fetched == [message]
    # Bob, the recipient, may now read them.
    bob_http = Person(bob.user_id, bob.session_id, app.test_client())
    assert bob_http.get(image["url"]).status_code == 200


def test_written_content_is_kept_beside_the_attachments(people):
    alice_http, alice, bob, _ = people
    doc = alice_http.upload(b"x", "a.txt").get_json()
    ack = alice.send(bob.user_id, "see this", attachments=[doc["id"]])
    assert ack["message"]["content"] == "see this"
    assert ack["message"]["attachments"] == [doc]


def test_a_retry_acks_the_same_message_with_its_attachments(app, people):
    alice_http, alice, bob, _ = people
    doc = alice_http.upload(b"x", "a.txt").get_json()
    first = alice.send(bob.user_id, "", attachments=[doc["id"]], clientId="r-1")
    again = alice.send(bob.user_id, "", attachments=[doc["id"]], clientId="r-1")
    assert again == first
    assert stored(app) == 1


OWN, OTHERS, SENT, UNKNOWN = "own", "others", "sent", "unknown"
# (ids, content, recipient: "bob" | "nobody", blocked, expected code), B6's order included
BAD_SENDS = [
    ("not a list", "hi", "bob", False, "invalid_payload"),
    ([1], "hi", "bob", False, "invalid_payload"),
    ([""], "hi", "bob", False, "invalid_payload"),
    ([OWN, OWN], "hi", "bob", False, "invalid_payload"),
    ([OWN] + [f"u{i}" for i in range(10)], "hi", "bob", False, "invalid_payload"),
    ([], "", "bob", False, "empty"),
    ([], "  ", "bob", False, "empty"),
    ([OTHERS], "", "bob", False, "unknown_attachment"),
    ([OWN, SENT], "", "bob", False, "unknown_attachment"),
    ([UNKNOWN], "hi", "bob", False, "unknown_attachment"),
    ([OWN, OWN], "x" * 4001, "nobody", True, "invalid_payload"),
    ([OWN], "x" * 4001, "nobody", True, "too_long"),
    ([UNKNOWN], "hi", "nobody", False, "unknown_recipient"),
    ([UNKNOWN], "", "bob", True, "blocked"),
    ([OWN], "hi", "bob", True, "blocked"),
]


@pytest.mark.parametrize(("ids", "content", "to", "blocked", "code"), BAD_SENDS, ids=repr)
def test_bad_attachments_store_and_claim_nothing(app, people, ids, content, to, blocked, code):
    alice_http, alice, bob, carol_http = people
    own = alice_http.upload(b"mine", "mine.txt").get_json()["id"]
    sent = alice_http.upload(b"sent", "sent.txt").get_json()["id"]
    assert alice.send(bob.user_id, "", attachments=[sent])["ok"] is True
    names = {
        OWN: own,
        OTHERS: carol_http.upload(b"c", "c.txt").get_json()["id"],
        SENT: sent,
        UNKNOWN: "no-such-upload",
    }
    if isinstance(ids, list):
        ids = [names.get(i, i) for i in ids]
    if blocked:
        bob.emit("block", {"userID": alice.user_id})
    bob.clear()
    recipient = bob.user_id if to == "bob" else "nobody-at-all"

    ack = alice.send(recipient, content, attachments=ids)

    assert ack["ok"] is False and ack["error"] == code, ack
    assert stored(app) == 1
    assert bob.received("private message") == []
    with app.app_context():
        assert db.session.get(Attachment, own).message_id is None


def test_an_attachment_can_be_sent_once_the_refusal_is_fixed(app, people):
    alice_http, alice, bob, _ = people
    own = alice_http.upload(b"mine", "mine.txt").get_json()["id"]
    assert alice.send(bob.user_id, "", attachments=[own, "nope"])["error"] == "unknown_attachment"
    assert alice.send(bob.user_id, "", attachments=[own])["ok"] is True
