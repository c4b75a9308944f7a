"""Admin commands: list users, revoke sessions, remove a user, export, purge old messages."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
import socketio
from sqlalchemy import select, update

from chat import store
from chat.extensions import db
from chat.models import Message, ReadState, Session, User, utcnow
from tests.support.commands import flask_cli
from tests.support.environments import sqlite_env
from tests.support.inprocess import open_tab
from tests.support.peer import Peer
from tests.support.shared_redis import unique_prefix


def run(app, *args: str, ok: bool = True):
    result = app.test_cli_runner().invoke(args=list(args))
    assert (result.exit_code == 0) is ok, result.output
    return result


def test_list_users_shows_state_sessions_and_last_seen(app):
    with app.app_context():
        store.login("alice", "correct horse")
        store.login("bob")
        store.login("carol")
    bob = open_tab(app, username="bob2")
    bob.close()

    rows = [json.loads(line) for line in run(app, "list-users", "--json").stdout.splitlines()]
    by_name = {r["username"]: r for r in rows}
    assert set(by_name) == {"alice", "bob", "carol", "bob2"}
    assert by_name["alice"]["protected"] is True and by_name["bob"]["protected"] is False
    assert by_name["alice"]["sessions"] == 1
    assert by_name["bob2"]["lastSeen"].endswith("Z") and by_name["alice"]["lastSeen"] is None
    # Without Redis, presence lives in a server's memory: the CLI says it cannot know.
    assert {r["state"] for r in rows} == {"unknown"}

    text = run(app, "list-users")
    assert "alice\tunknown\t1 sessions" in text.stdout
    assert "online state needs REDIS_URL" in text.stderr


def test_revoke_sessions_ends_every_session_of_one_user(app):
    with app.app_context():
        alice, first = store.login("alice", "correct horse")
        _, second = store.login("alice", "correct horse")
        bob, bobs = store.login("bob")
    out = run(app, "revoke-sessions", "ALICE").stdout  # usernames match case-insensitively
    assert f"revoked 2 sessions of {alice.user_id}" in out
    with app.app_context():
        assert store.resume(first, 30) is None and store.resume(second, 30) is None
        assert store.resume(bobs, 30) == bob


def test_unknown_and_ambiguous_users_are_refused(app):
    with app.app_context():
        victim, _ = store.login("victim")
        store.login(victim.user_id)  # a username that is someone else's userID
    assert (
        "no user with userID or username" in run(app, "revoke-sessions", "ghost", ok=False).output
    )
    refused = run(app, "remove-user", victim.user_id, "--yes", ok=False)
    assert "use the userID" in refused.output
    with app.app_context():
        assert db.session.get(User, victim.user_id).deleted_at is None


def test_removed_user_keeps_its_messages_for_peers_under_a_deleted_name(app):
    alice = open_tab(app, username="alice")
    bob = open_tab(app, username="bob")
    assert alice.send(bob.user_id, "hi bob")["ok"] is True
    assert bob.send(alice.user_id, "hi alice")["ok"] is True
    assert bob.emit("read", {"with": alice.user_id, "upTo": 1})["ok"] is True
    alice.close()

    out = run(app, "remove-user", "alice", "--yes").stdout
    assert f"removed {alice.user_id}: 1 sessions ended" in out

    again = open_tab(app, sessionID=bob.session_id)
    users = {u["userID"]: u for u in again.first("users")}
    gone = users[alice.user_id]
    assert gone["username"] == "deleted user" and gone["connected"] is False
    assert [m["content"] for m in gone["messages"]] == ["hi bob", "hi alice"]
    assert again.send(alice.user_id, "still there?")["error"] == "unknown_recipient"

    carol = open_tab(app, username="carol")  # never talked with alice: not listed
    assert alice.user_id not in {u["userID"] for u in carol.first("users")}
    newcomer = open_tab(app, username="alice")  # the name is free again
    assert newcomer.user_id != alice.user_id

    with app.app_context():
        assert db.session.scalar(select(Session).where(Session.user_id == alice.user_id)) is None
        assert db.session.get(User, alice.user_id).password_hash is None
    assert "already removed" in run(app, "remove-user", alice.user_id, "--yes", ok=False).output


def test_remove_user_asks_first(app):
    with app.app_context():
        alice, _ = store.login("alice")
    result = app.test_cli_runner().invoke(args=["remove-user", "alice"], input="n\n")
    assert result.exit_code == 1 and "Aborted" in result.output
    with app.app_context():
        assert db.session.get(User, alice.user_id).deleted_at is None


def test_export_conversation_writes_every_message_oldest_first(app, tmp_path):
    alice = open_tab(app, username="alice")
    bob = open_tab(app, username="bob")
    carol = open_tab(app, username="carol")
    for i in range(5):
        assert alice.send(bob.user_id, f"a{i}", clientId=f"c{i}")["ok"] is True
        assert bob.send(alice.user_id, f"b{i}")["ok"] is True
    assert alice.send(carol.user_id, "not in this conversation")["ok"] is True

    doc = json.loads(run(app, "export-conversation", "alice", "bob").stdout)
    assert [u["username"] for u in doc["users"]] == ["alice", "bob"]
    contents = [m["content"] for m in doc["messages"]]
    assert contents == [x for i in range(5) for x in (f"a{i}", f"b{i}")]
    ids = [m["id"] for m in doc["messages"]]
    assert ids == sorted(ids)
    assert doc["messages"][0]["clientId"] == "c0" and doc["messages"][0]["from"] == alice.user_id
    assert doc["exportedAt"].endswith("Z")

    path = tmp_path / "export.json"
    out = run(app, "export-conversation", bob.user_id, alice.user_id, "-o", str(path)).stdout
    assert "exported 10 messages" in out
    assert json.loads(path.read_text())["messages"] == doc["messages"]


def test_export_pages_through_long_conversations(app):
    from chat import admin

    alice = open_tab(app, username="alice")
    for i in range(7):
        assert alice.send(alice.user_id, f"n{i}")["ok"] is True
    with app.app_context():
        got = [m.content for m in admin.conversation(alice.user_id, alice.user_id, batch=3)]
    assert got == [f"n{i}" for i in range(7)]


def _age(app, contents: list[str], days: int) -> None:
    with app.app_context():
        db.session.execute(
            update(Message)
            .where(Message.content.in_(contents))
            .values(created_at=utcnow() - timedelta(days=days))
        )
        db.session.commit()


def _contents(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(Message.content).order_by(Message.id)))


def test_purge_deletes_only_messages_older_than_the_retention(app):
    alice = open_tab(app, username="alice")
    bob = open_tab(app, username="bob")
    for text in ("old1", "old2", "recent", "new"):
        assert alice.send(bob.user_id, text)["ok"] is True
    _age(app, ["old1", "old2"], 40)
    _age(app, ["recent"], 20)

    assert (
        "would purge 2 messages"
        in run(app, "purge-messages", "--older-than", "30", "--dry-run").stdout
    )
    assert _contents(app) == ["old1", "old2", "recent", "new"]
    assert (
        "purged 2 messages older than 30 days"
        in run(app, "purge-messages", "--older-than", "30").stdout
    )
    assert _contents(app) == ["recent", "new"]
    run(app, "purge-messages", "--older-than", "0", ok=False)  # at least one day


def test_purge_keeps_everything_unless_a_retention_is_set(make_app):
    app = make_app()
    alice = open_tab(app, username="alice")
    assert alice.send(alice.user_id, "ancient")["ok"] is True
    _age(app, ["ancient"], 4000)
    assert "kept forever" in run(app, "purge-messages").stdout
    assert _contents(app) == ["ancient"]

    app.config["RETENTION_DAYS"] = "365"  # as RETENTION_DAYS=365 in the environment
    assert "purged 1 messages older than 365 days" in run(app, "purge-messages").stdout
    assert _contents(app) == []


def test_purge_drops_removed_users_left_without_messages(app):
    alice = open_tab(app, username="alice")
    bob = open_tab(app, username="bob")
    assert alice.send(bob.user_id, "bye")["ok"] is True
    assert bob.emit("read", {"with": alice.user_id, "upTo": 10})["ok"] is True
    run(app, "remove-user", "alice", "--yes")
    _age(app, ["bye"], 10)
    assert "1 removed users dropped" in run(app, "purge-messages", "--older-than", "5").stdout
    with app.app_context():
        assert db.session.get(User, alice.user_id) is None
        assert db.session.get(User, bob.user_id) is not None
        assert (
            db.session.scalar(select(ReadState).where(ReadState.peer_id == alice.user_id)) is None
        )


# --- a real server and a separate CLI process -------------------------------------------


def _watch_disconnect(remote: Peer) -> threading.Event:
    closed = threading.Event()
    remote.sio.on("disconnect", lambda *_: closed.set())
    return closed


@pytest.mark.server
def test_cli_closes_the_sockets_of_a_running_cluster(tmp_path, servers, private_redis):
    env = sqlite_env(tmp_path, REDIS_URL=private_redis.url, REDIS_PREFIX=unique_prefix())
    a = servers(env, name="a")
    b = servers(env, name="b", do_migrate=False)
    alice = Peer(a.url, transports=["websocket"], username="alice")
    alice2 = Peer(b.url, sessionID=alice.session_id)  # another tab, another process
    bob = Peer(b.url, transports=["websocket"], username="bob")
    carol = Peer(a.url, transports=["websocket"], username="carol")
    watched = {r: _watch_disconnect(r) for r in (alice, alice2, bob, carol)}
    try:
        done = flask_cli(env, "revoke-sessions", "alice")
        assert done.returncode == 0, done.stderr
        assert "closed 2 sockets" in done.stdout
        assert watched[alice].wait(10) and watched[alice2].wait(10)
        refused = socketio.Client(reconnection=False)
        with pytest.raises(socketio.exceptions.ConnectionError):
            refused.connect(a.url, auth={"sessionID": alice.session_id}, wait_timeout=5)

        done = flask_cli(env, "remove-user", bob.user_id, "--yes")
        assert done.returncode == 0, done.stderr
        assert watched[bob].wait(10)
        carol.wait_for("user disconnected", lambda uid: uid == bob.user_id)
        assert not watched[carol].is_set()
    finally:
        for r in (alice, alice2, bob, carol):
            r.close()


def test_purged_messages_no_longer_count_as_unread_nor_keep_a_conversation(app):
    alice = open_tab(app, username="alice")
    bob = open_tab(app, username="bob")
    carol = open_tab(app, username="carol")
    ids = {}
    for text in ("old1", "old2", "recent1", "recent2"):
        ids[text] = alice.send(bob.user_id, text)["message"]["id"]
    assert bob.emit("read", {"with": alice.user_id, "upTo": ids["old1"]})["ok"] is True
    assert carol.send(bob.user_id, "carol old")["ok"] is True
    assert alice.send(alice.user_id, "old note to self")["ok"] is True
    _age(app, ["old1", "old2", "carol old", "old note to self"], 40)
    run(app, "purge-messages", "--older-than", "30")

    def states() -> dict[tuple[str, str], tuple[int, int]]:
        with app.app_context():
            rows = db.session.scalars(select(ReadState))
            return {(r.user_id, r.peer_id): (r.last_id, r.unread) for r in rows}

    after = states()
    # What a full rebuild from the messages left would say, row for row.
    with app.app_context():
        store.rebuild_conversations()
        db.session.commit()
    assert after == states()
    newest = ids["recent2"]
    assert after[(bob.user_id, alice.user_id)] == (newest, 2)  # old2 no longer unread
    assert after[(alice.user_id, bob.user_id)] == (newest, 0)
    assert after[(bob.user_id, carol.user_id)] == (0, 0)  # nothing left of it
    assert after[(alice.user_id, alice.user_id)] == (0, 0)
    # A new connection lists the counts and conversations that are left.
    again = open_tab(app, sessionID=bob.session_id)
    listed = {u["userID"]: u for u in again.first("users")}
    assert listed[alice.user_id]["unread"] == 2
    assert [m["content"] for m in listed[alice.user_id]["messages"]] == ["recent1", "recent2"]
    assert listed.get(carol.user_id, {"unread": 0})["unread"] == 0
