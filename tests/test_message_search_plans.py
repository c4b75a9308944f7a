"""A message search reads only the searching user's index terms (PROTOCOL.md B9): EXPLAIN
shows the search index used and no scan of messages, and the index holds each word once per
participant, qualified by that participant's id (SQLite and PostgreSQL).

The statements are captured as the server runs them, then explained with the same
parameters, as in tests/test_query_plans.py.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from chat.extensions import db
from tests.test_query_plans import capture

REQUESTS = [
    {"q": "lunch"},
    {"q": "lun tomo"},
    {"q": "lunch", "with": "ALICE"},
    {"q": "lunch", "before": 10**6, "limit": 5},
]


def search_statement(app, tab, request):
    """The one statement a search runs against the index, with its parameters."""
    seen, stop = capture(app)
    try:
        ack = tab.emit("search messages", request)
    finally:
        stop()
    assert ack["ok"] is True, ack
    [found] = [(s, p) for s, p in seen if "message_search" in s or "chat_search_query" in s]
    return found


def crowd(app, alice, bob, carol, dave, n=200):
    """bob and alice share a few lunch messages; carol and dave many more."""
    alice.send(bob.user_id, "lunch tomorrow?")
    bob.send(alice.user_id, "lunch sounds good")
    for i in range(n):
        carol.send(dave.user_id, f"lunch tomorrow {i}")


@pytest.fixture
def four(connect_as):
    return [connect_as(name) for name in ("alice", "bob", "carol", "dave")]


@pytest.mark.parametrize("request_", REQUESTS, ids=lambda r: ",".join(r))
def test_search_uses_the_index_and_never_scans_messages(app, four, request_):
    alice, bob, carol, dave = four
    crowd(app, alice, bob, carol, dave, n=20)
    request_ = {k: alice.user_id if v == "ALICE" else v for k, v in request_.items()}
    statement, parameters = search_statement(app, bob, request_)
    with app.app_context(), db.engine.connect() as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            (plan,) = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters).one()
            nodes = list(walk(plan[0]["Plan"]))
            scans = {(n["Node Type"], n.get("Relation Name"), n.get("Index Name")) for n in nodes}
            # Only the user's terms are read: never the primary key, a conversation or a
            # sequential scan over everyone's messages.
            assert {index for _, _, index in scans if index} == {"ix_messages_search"}, scans
            assert not [s for s in scans if s[0] == "Seq Scan"], scans
        else:
            plan = [
                row[-1]
                for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            ]
            # FTS5 answers the MATCH and yields rowids newest first (no sort); each match
            # reads one messages row by primary key.
            assert plan[0].startswith("SCAN message_search VIRTUAL TABLE INDEX"), plan
            assert plan[1].startswith("SEARCH messages USING INTEGER PRIMARY KEY"), plan
            assert len(plan) == 2, plan


def walk(node):
    yield node
    for child in node.get("Plans", ()):
        yield from walk(child)


def test_the_index_reads_only_the_searchers_matches(app, four):
    """Others' matches of the same word never reach the search: on PostgreSQL the index
    scan returns bob's two messages among 202; on SQLite the terms looked up are bob's."""
    alice, bob, carol, dave = four
    crowd(app, alice, bob, carol, dave)
    statement, parameters = search_statement(app, bob, {"q": "lunch"})
    with app.app_context(), db.engine.connect() as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            # 202 rows: the planner would rather read them all than use an index.
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            (plan,) = conn.exec_driver_sql(
                "EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters
            ).one()
            plan = plan if isinstance(plan, list) else json.loads(plan)
            [index_scan] = [
                n for n in walk(plan[0]["Plan"]) if n.get("Index Name") == "ix_messages_search"
            ]
            assert index_scan["Actual Rows"] == 2
        else:
            match = f'"{bob.user_id}:lunch"*'
            assert match in parameters
            rows = conn.execute(
                text("SELECT rowid FROM message_search WHERE message_search MATCH :m"),
                {"m": match},
            ).all()
            assert len(rows) == 2


def test_each_word_is_indexed_once_per_participant(app, four):
    alice, bob, _, _ = four
    alice.send(bob.user_id, "Hello, hello World")
    alice.send(alice.user_id, "note")
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            found = db.session.execute(
                text(
                    "SELECT tsvector_to_array(chat_search_vector(sender_id, recipient_id, "
                    "content)) FROM messages ORDER BY id"
                )
            ).scalars()
            terms = [set(t) for t in found]
        else:
            rows = db.session.execute(
                text("SELECT term, doc FROM message_search_vocab ORDER BY doc")
            ).all()
            terms = [{t for t, d in rows if d == doc} for doc in sorted({d for _, d in rows})]
    assert terms == [
        {f"{who}:{word}" for who in (alice.user_id, bob.user_id) for word in ("hello", "world")},
        {f"{alice.user_id}:note"},
    ]


@pytest.fixture(autouse=True)
def _vocab(app):
    """SQLite: a view of the FTS5 index's terms per message, for the test above."""
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            db.session.execute(
                text(
                    "CREATE VIRTUAL TABLE IF NOT EXISTS message_search_vocab "
                    "USING fts5vocab(message_search, 'instance')"
                )
            )
            db.session.commit()
