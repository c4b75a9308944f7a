"""Redis down under two processes: each keeps storing and delivering to its own clients.

Uses a redis-server of the test's own, killed and restarted on the same port; the shared
Redis is never touched.
"""

from __future__ import annotations

import time

import pytest

from deploy.launch import Server
from tests.support.databases import migrated
from tests.support.environments import GENEROUS, redis_env
from tests.support.polling import wait_until

pytestmark = [pytest.mark.server, pytest.mark.filterwarnings("ignore::ResourceWarning")]


def two_processes(start_server, redis_url: str, tmp_path) -> tuple[Server, Server]:
    """Two servers on one migrated SQLite file, sharing the Redis at ``redis_url``."""
    env = {
        **GENEROUS,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'chat.db'}",
        **redis_env(redis_url),
    }
    migrated(env)
    return start_server(env, "a"), start_server(env, "b")


def test_redis_down_keeps_local_delivery_and_recovers(
    start_server, peers, private_redis, tmp_path, capsys
):
    a, b = two_processes(start_server, private_redis.url, tmp_path)
    alice = peers(a.url, username="alice")
    alice2 = peers(a.url, sessionID=alice.session_id)
    carol = peers(a.url, username="carol")
    bob = peers(b.url, username="bob")

    def delivered(peer, ack, timeout=10):
        return peer.wait_for("private message", lambda m: m["id"] == ack["id"], timeout)

    ack = alice.call("private message", {"content": "before", "to": bob.user_id})
    delivered(bob, ack["message"])  # across processes, through Redis

    private_redis.kill()
    down_at = time.monotonic()
    sent_while_down = []
    for i in range(5):
        start = time.monotonic()
        ack = alice.call("private message", {"content": f"local {i}", "to": carol.user_id})
        assert ack["ok"], ack
        assert time.monotonic() - start < 3  # no stall on the dead Redis
        delivered(carol, ack["message"])  # same process: Redis is not needed
        delivered(alice2, ack["message"])  # the sender's other tab
    for sender, to in ((alice, bob.user_id), (bob, alice.user_id)):
        ack = sender.call("private message", {"content": "across, while down", "to": to})
        assert ack["ok"], ack  # stored: the recipient finds it in its history
        sent_while_down.append(ack["message"])
    typing = alice.call("typing", {"to": carol.user_id})
    assert typing == {"ok": True}
    carol.wait_for("typing", lambda t: t["from"] == alice.user_id)
    # Presence keeps this process's own sockets in memory while Redis is away (and writes them
    # back when it returns), so handshakes go on and local delivery reaches the newcomer too.
    start = time.monotonic()
    newcomer = peers(a.url, username="newcomer")
    assert time.monotonic() - start < 10
    ack = alice.call("private message", {"content": "welcome", "to": newcomer.user_id})
    assert ack["ok"], ack
    delivered(newcomer, ack["message"])

    # Stay down long enough for the subscriber's retry interval to grow.
    log_a = tmp_path / "a.log"
    wait_until(lambda: "retry in 2.0s" in log_a.read_text(), 15, what="subscriber retrying")
    private_redis.start()  # same port, empty
    up_at = time.monotonic()
    recovered = None
    for i in range(60):
        ack = alice.call("private message", {"content": f"probe {i}", "to": bob.user_id})
        assert ack["ok"]
        try:
            delivered(bob, ack["message"], timeout=0.5)
        except AssertionError:
            continue
        recovered = time.monotonic() - up_at
        break
    assert recovered is not None, "cross-process delivery did not come back"
    assert peers(a.url, username="latecomer").user_id

    for who, peer_id in ((bob, alice.user_id), (alice, bob.user_id)):
        ids = {m["id"] for m in who.history(peer_id)}
        assert {m["id"] for m in sent_while_down} <= ids
    log = log_a.read_text()
    assert "message queue unavailable" in log
    assert "message queue back after" in log
    with capsys.disabled():
        print(
            f"\nRedis down {up_at - down_at:.1f}s; cross-process delivery back "
            f"{recovered:.2f}s after Redis returned"
        )


def test_hung_redis_delays_acks_a_bounded_time(
    start_server, peers, private_redis, tmp_path, capsys
):
    a, b = two_processes(start_server, private_redis.url, tmp_path)
    alice = peers(a.url, username="alice")
    carol = peers(a.url, username="carol")
    bob = peers(b.url, username="bob")
    private_redis.pause()
    try:
        start = time.monotonic()
        ack = alice.call("private message", {"content": "while hung", "to": carol.user_id}, 30)
        took = time.monotonic() - start
        assert ack["ok"], ack
        # Rate limiter (2 s) and publish (2 s) time out; nothing waits forever.
        assert took < 8, took
        with capsys.disabled():
            print(f"\nack while Redis hung: {took:.2f}s")
        carol.wait_for("private message", lambda m: m["id"] == ack["message"]["id"])
    finally:
        private_redis.resume()
    ack = alice.call("private message", {"content": "after", "to": bob.user_id})
    assert ack["ok"]
    bob.wait_for("private message", lambda m: m["id"] == ack["message"]["id"], timeout=15)


def test_a_message_sent_while_redis_is_down_reaches_the_open_tab_once_it_is_back(
    start_server, peers, private_redis, tmp_path
):
    # Issue 13: alice and bob on one process, carol on the other; Redis killed, restarted
    # empty. alice's message to carol during the outage is stored and acked, and carol's
    # open tab must get it live once Redis is back, without a reload.
    env = {
        **GENEROUS,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'chat.db'}",
        **redis_env(private_redis.url),
    }
    migrated(env)
    a = start_server(env, "a")
    b = start_server(env, "b")
    alice = peers(a.url, username="alice")
    bob = peers(a.url, username="bob")
    carol = peers(b.url, username="carol")
    before = alice.call("private message", {"content": "before", "to": carol.user_id})
    carol.wait_for("private message", lambda m: m["id"] == before["message"]["id"])

    private_redis.kill()
    ack = alice.call("private message", {"content": "while down", "to": carol.user_id})
    assert ack["ok"], ack
    local = alice.call("private message", {"content": "next door", "to": bob.user_id})
    bob.wait_for("private message", lambda m: m["id"] == local["message"]["id"])
    # Down until both subscribers have failed at least twice (presence is lost with it).
    for name in ("a", "b"):
        log = tmp_path / f"{name}.log"
        wait_until(lambda log=log: "retry in 1.0s" in log.read_text(), 15, what="retrying")
    assert ack["message"]["id"] not in {m["id"] for m in carol.received("private message")}
    private_redis.start()  # same port, empty

    got = carol.wait_for("private message", lambda m: m["id"] == ack["message"]["id"], 30)
    assert got["content"] == "while down" and got["from"] == alice.user_id
    after = alice.call("private message", {"content": "after", "to": carol.user_id})
    carol.wait_for("private message", lambda m: m["id"] == after["message"]["id"], 15)
    ids = [m["id"] for m in carol.received("private message")]
    assert ids.index(ack["message"]["id"]) < ids.index(after["message"]["id"])
