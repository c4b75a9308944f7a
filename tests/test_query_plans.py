"""Every statement of a connect, a send, a page of history, a read and a search can use an
index: EXPLAIN shows no full scan of a table (SQLite and PostgreSQL).

The statements are captured as the server runs them, then explained with the same
parameters. PostgreSQL is told to avoid sequential scans (its planner prefers them on tiny
tables), so a sequential scan in its plan means no index could serve the statement.
"""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import event

from chat.extensions import db
from tests.support.inprocess import open_tab

TABLES = ("messages", "read_state", "users", "sessions")


def capture(app):
    """Records (statement, parameters) of every DML/SELECT the app runs until removed."""
    seen: list[tuple[str, object]] = []

    def record(_conn, _cursor, statement, parameters, _context, executemany):
        if not executemany and re.match(r"\s*(WITH|SELECT|INSERT|UPDATE|DELETE)", statement, re.I):
            seen.append((statement, parameters))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    return seen, lambda: event.remove(engine, "before_cursor_execute", record)


def full_scans_sqlite(conn, statement, parameters) -> list[str]:
    rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
    bad = []
    for row in rows:
        detail = row[-1]
        m = re.match(r"SCAN (\w+)", detail)
        if m and m.group(1) in TABLES and "USING" not in detail:
            bad.append(detail)
    return bad


def full_scans_postgresql(conn, statement, parameters) -> list[str]:
    conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
    (plan,) = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters).one()
    plan = plan if isinstance(plan, list) else json.loads(plan)
    bad = []

    def walk(node):
        if node.get("Node Type") == "Seq Scan" and node.get("Relation Name") in TABLES:
            bad.append(f"Seq Scan on {node['Relation Name']}")
        for child in node.get("Plans", ()):
            walk(child)

    walk(plan[0]["Plan"])
    return bad


def test_no_statement_scans_a_whole_table(app, client):
    bob = open_tab(app, username="bob")
    alice = open_tab(app, username="alice")
    first = alice.send(bob.user_id, "first", clientId="c1")["message"]["id"]
    seen, stop = capture(app)
    try:
        again = open_tab(app, sessionID=bob.session_id)  # resume, users payload, presence
        alice.send(bob.user_id, "second", clientId="c2")  # insert, both conversation sides
        alice.send(bob.user_id, "second", clientId="c2")  # a retry: found by clientId
        again.emit("fetch messages", {"with": alice.user_id, "before": first + 1})
        again.emit("read", {"with": alice.user_id, "upTo": first})
        again.emit("search messages", {"q": "sec", "with": alice.user_id})
        client.get("/")
        page = client.get("/").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        client.post("/login", data={"username": "carol", "csrf_token": token})
        assert client.get("/api/users?q=al").get_json()["users"][0]["username"] == "alice"
    finally:
        stop()
    tables_seen = {t for s, _ in seen for t in TABLES if re.search(rf"\b{t}\b", s)}
    assert tables_seen == set(TABLES)  # the scenario exercised every table
    with app.app_context(), db.engine.connect() as conn:
        explain = full_scans_postgresql if conn.dialect.name == "postgresql" else full_scans_sqlite
        problems = {}
        for statement, parameters in seen:
            with conn.begin():
                found = explain(conn, statement, parameters)
                if found:
                    problems[" ".join(statement.split())[:160]] = found
    assert problems == {}


@pytest.mark.parametrize(
    ("what", "index"),
    [
        ("conversation page", "ix_messages_conversation"),
        ("recent conversations", "ix_read_state_recent"),
    ],
)
def test_the_connect_queries_use_their_indexes(app, what, index):
    """The two queries whose cost would otherwise grow with the stored volume name their index."""
    bob = open_tab(app, username="bob")
    alice = open_tab(app, username="alice")
    alice.send(bob.user_id, "hello")
    seen, stop = capture(app)
    try:
        open_tab(app, sessionID=bob.session_id)
    finally:
        stop()
    table = "messages" if what == "conversation page" else "read_state"
    [(statement, parameters)] = [
        (s, p) for s, p in seen if re.search(rf"FROM {table}\b", s) and "ORDER BY" in s
    ]
    with app.app_context(), db.engine.connect() as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            plan = conn.exec_driver_sql("EXPLAIN " + statement, parameters).all()
        else:
            plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
    assert index in " ".join(str(row[-1]) for row in plan)
