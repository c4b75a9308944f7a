"""The database down, unreachable or locked under a running server: "unavailable", then recovery.

PostgreSQL is reached through a TCP proxy that the test cuts (connections reset, new ones
refused) or blackholes (new connections never answered): the shared PostgreSQL is never
stopped. SQLite is made unavailable the way it happens in production: another process holds
its write lock (a backup, an admin shell left in a transaction).
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import requests
import socketio

from deploy.databases import pg_database
from deploy.launch import migrate
from tests.support.environments import GENEROUS

pytestmark = [pytest.mark.server, pytest.mark.filterwarnings("ignore::ResourceWarning")]

TIMEOUT_S = 1.0  # the server's DB_TIMEOUT_S here: short, so that the test is quick


def refusal(url: str, **auth) -> tuple[object, float]:
    """Tries a handshake; returns (the connect_error data, seconds it took)."""
    sio = socketio.Client(reconnection=False)
    errors: list[object] = []
    sio.on("connect_error", errors.append)
    start = time.monotonic()
    try:
        sio.connect(url, auth=auth, transports=["websocket"], wait_timeout=30)
    except socketio.exceptions.ConnectionError:
        pass
    finally:
        took = time.monotonic() - start
        accepted = sio.connected
        sio.disconnect()
    return (errors[0] if errors else "accepted" if accepted else "no answer"), took


def send_unavailable(peer, to: str, text: str) -> float:
    """Sends once; asserts the ack is "unavailable"; returns how long the ack took."""
    start = time.monotonic()
    ack = peer.call("private message", {"content": text, "to": to, "clientId": text}, timeout=30)
    took = time.monotonic() - start
    assert ack["ok"] is False and ack["error"] == "unavailable", ack
    assert "nothing was stored" in ack["detail"]
    return took


def recover(peer, to: str, text: str, within: float = 30) -> tuple[dict, float]:
    """Re-sends one clientId until it is acked ok; returns (ack, seconds until then)."""
    start = time.monotonic()
    ack = peer.send_until_acked(to, text, client_id=text, deadline_s=within)
    return ack, time.monotonic() - start


def pg_count(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM messages").fetchone()[0]


def test_postgresql_cut_and_blackholed(start_server, peers, tcp_proxy, tmp_path, capsys):
    direct = pg_database(f"rel_pg_{uuid.uuid4().hex[:8]}")
    migrate({"DATABASE_URL": direct})
    parts = urlsplit(direct)
    proxy = tcp_proxy(parts.hostname, parts.port or 5432)
    through = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}"))
    env = {**GENEROUS, "DATABASE_URL": through, "DB_TIMEOUT_S": str(TIMEOUT_S)}
    server = start_server(env)
    bob = peers(server.url, username="bob")
    alice = peers(server.url, username="alice")
    assert alice.send_until_acked(bob.user_id, "before")["ok"]
    bob.wait_for("private message", lambda m: m["content"] == "before")
    figures: dict[str, str] = {}

    for fault in (proxy.cut, proxy.blackhole):
        fault()
        took = send_unavailable(alice, bob.user_id, f"lost-{fault.__name__}")
        # Bounded by DB_TIMEOUT_S (connect or pool), with room for a loaded machine.
        assert took < TIMEOUT_S * 4 + 2, took
        error, took_connect = refusal(server.url, username=f"late_{fault.__name__}")
        assert error == {"message": "unavailable"}
        assert took_connect < TIMEOUT_S * 4 + 2, took_connect
        # The process is up and answers what needs no database.
        assert requests.get(server.url + "/healthz", timeout=5).status_code == 200
        assert bob.sio.connected and alice.sio.connected

        proxy.restore()
        ack, back = recover(alice, bob.user_id, f"after-{fault.__name__}")
        figures[fault.__name__] = (
            f"unavailable ack {took:.2f}s, refusal {took_connect:.2f}s, ok again {back:.2f}s"
        )
        relayed = bob.wait_for("private message", lambda m, i=ack["message"]["id"]: m["id"] == i)
        assert relayed["content"] == f"after-{fault.__name__}"
        carol = peers(server.url, username=f"carol_{fault.__name__}")
        assert carol.user_id

    # Nothing from the refused sends was stored or relayed.
    contents = [m["content"] for m in bob.received("private message")]
    assert contents == ["before", "after-cut", "after-blackhole"]
    assert pg_count(direct) == 3
    with capsys.disabled():
        print(f"\nPostgreSQL, DB_TIMEOUT_S={TIMEOUT_S}: {figures}")
    log = (tmp_path / "server.log").read_text()
    assert "storage failed" in log and "reason=unavailable" in log  # refusals are logged


def test_postgresql_lock_held_elsewhere_times_out(start_server, peers):
    url = pg_database(f"rel_lock_{uuid.uuid4().hex[:8]}")
    migrate({"DATABASE_URL": url})
    env = {**GENEROUS, "DATABASE_URL": url, "DB_TIMEOUT_S": str(TIMEOUT_S)}
    server = start_server(env)
    bob = peers(server.url, username="bob")
    alice = peers(server.url, username="alice")
    with psycopg.connect(url) as conn:
        conn.execute("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")  # a migration, say
        took = send_unavailable(alice, bob.user_id, "blocked")
        assert TIMEOUT_S * 0.9 <= took < TIMEOUT_S * 4 + 2, took
        conn.rollback()
    ack, _ = recover(alice, bob.user_id, "unblocked")
    assert bob.wait_for("private message", lambda m: m["id"] == ack["message"]["id"])
    assert pg_count(url) == 1


def test_sqlite_locked_by_another_process(start_server, peers, tmp_path, capsys):
    path = tmp_path / "chat.db"
    env = {**GENEROUS, "DATABASE_URL": f"sqlite:///{path}", "DB_TIMEOUT_S": str(TIMEOUT_S)}
    migrate(env)
    server = start_server(env)
    bob = peers(server.url, username="bob")
    alice = peers(server.url, username="alice")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # the write lock, held until rollback
    try:
        took = send_unavailable(alice, bob.user_id, "blocked")
        assert TIMEOUT_S * 0.9 <= took < TIMEOUT_S * 4 + 2, took
        error, took = refusal(server.url, username="newcomer")
        assert error == {"message": "unavailable"}
        assert requests.get(server.url + "/healthz", timeout=10).status_code == 200
    finally:
        holder.rollback()
        holder.close()
    ack, took = recover(alice, bob.user_id, "unblocked")
    assert bob.wait_for("private message", lambda m: m["id"] == ack["message"]["id"])
    assert peers(server.url, username="newcomer").user_id
    with sqlite3.connect(path) as check:
        assert check.execute("SELECT content FROM messages").fetchall() == [("unblocked",)]
    with capsys.disabled():
        print(f"\nSQLite: first ok ack after the lock is released: {took:.2f}s")
