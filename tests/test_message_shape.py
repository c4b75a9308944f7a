"""PROTOCOL.md B6's message shape: editedAt and attachments on every message the server sends,
the attachments read in one query per list, none on a plain send."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy import event

from chat.extensions import db
from tests.attachments_support import person

SHAPE = {"id", "content", "from", "to", "createdAt", "editedAt", "attachments"}


@contextlib.contextmanager
def attachment_queries(app) -> Iterator[list[str]]:
    """The statements that read the attachments table while the block runs."""
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        if "FROM attachments" in statement:
            seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_every_message_object_has_the_whole_shape(connect_as):
    bob = connect_as("bob")
    alice = connect_as("alice")
    acked = alice.send(bob.user_id, "hi")["message"]
    relayed = bob.received("private message")[-1]
    fetched = bob.emit("fetch messages", {"with": alice.user_id})["messages"][0]
    listed = [u for u in connect_as(session_id=bob.session_id).first("users")]
    [in_users] = [m for u in listed if u["userID"] == alice.user_id for m in u["messages"]]
    for message in (acked, relayed, fetched, in_users):
        assert set(message) == SHAPE
        assert message["editedAt"] is None and message["attachments"] == []
    assert acked == relayed == fetched == in_users


def test_a_plain_send_reads_no_attachments(app, connect_as):
    bob = connect_as("bob")
    alice = connect_as("alice")
    with attachment_queries(app) as seen:
        assert alice.send(bob.user_id, "plain")["ok"] is True
    assert seen == []


def test_a_users_list_and_a_page_read_attachments_in_one_query(app, connect_as):
    bob = connect_as("bob")
    bob_http_token = bob.session_id
    senders = [person(app, f"sender{i}") for i in range(4)]
    for sender in senders:
        tab = connect_as(session_id=sender.token)
        for n in range(3):
            upload = sender.upload(b"x", f"{n}.txt").get_json()
            tab.send(bob.user_id, f"m{n}", attachments=[upload["id"]])
    with attachment_queries(app) as seen:
        back = connect_as(session_id=bob_http_token)
    assert len(seen) == 1
    files = [
        len(m["attachments"])
        for u in back.first("users")
        if u["userID"] != bob.user_id
        for m in u["messages"]
    ]
    assert files == [1] * 12
    with attachment_queries(app) as seen:
        page = back.emit("fetch messages", {"with": senders[0].user_id})["messages"]
    assert len(seen) == 1 and [len(m["attachments"]) for m in page] == [1, 1, 1]
