"""Three processes on one Redis: a message crosses Redis only to the processes holding its
recipients, and not at all when they are all on the sender's process.

A pattern subscription on ``<prefix>socketio*`` sees every publish of the message queue.
Redis delivers publishes in order, so once a later marker message has been seen, any
publish of an earlier one would have been seen too: no sleep decides that nothing came.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import redis

from deploy.launch import Server
from tests.support.environments import cluster_env, name
from tests.support.peer import Peer
from tests.support.shared_redis import REDIS_URL

pytestmark = pytest.mark.server


class QueueMonitor:
    """Records (channel, message) for every ``private message`` the queue publishes."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.client = redis.Redis.from_url(REDIS_URL)
        self.pubsub = self.client.pubsub()
        self.seen: list[tuple[str, dict]] = []
        self.cond = threading.Condition()
        self.pubsub.psubscribe(**{f"{prefix}socketio*": self._record})
        confirmed = self.pubsub.get_message(timeout=5)  # subscribed before anything is sent
        assert confirmed is not None and confirmed["type"] == "psubscribe", confirmed
        self.thread = self.pubsub.run_in_thread(sleep_time=0.01, daemon=True)

    def _record(self, message: dict) -> None:
        data = orjson.loads(message["data"])
        if data.get("event") != "private message":
            return
        with self.cond:
            self.seen.append((message["channel"].decode(), data["data"][0]))
            self.cond.notify_all()

    def until(self, message_id: int, timeout: float = 10) -> list[tuple[str, int]]:
        """Waits for a publish of ``message_id``; returns (channel, id) of all seen so far."""
        with self.cond:
            assert self.cond.wait_for(
                lambda: any(m["id"] == message_id for _, m in self.seen), timeout
            ), f"message {message_id} never crossed Redis"
            return [(channel, m["id"]) for channel, m in self.seen]

    def inbox(self, user_id: str) -> str:
        """The queue channel of the process holding ``user_id``'s (only) socket."""
        for raw in self.client.smembers(f"{self.prefix}presence:procs"):
            proc = raw.decode()
            entries = self.client.smembers(f"{self.prefix}presence:proc:{proc}")
            if any(e.decode().startswith(f"{user_id}|") for e in entries):
                return f"{self.prefix}socketio:{proc}"
        raise AssertionError(f"{user_id} is on no process")

    def close(self) -> None:
        self.thread.stop()
        self.thread.join(5)
        self.pubsub.close()
        self.client.close()


@pytest.fixture(scope="module")
def third(pair, cluster_db, tmp_path_factory) -> Iterator[Server]:
    """A third process joining the package's pair."""
    logs: Path = tmp_path_factory.mktemp("third")
    server = Server(cluster_env(cluster_db, pair.prefix), log_path=logs / "3.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def monitor(pair) -> Iterator[QueueMonitor]:
    watching = QueueMonitor(pair.prefix)
    yield watching
    watching.close()


def test_a_message_between_users_of_one_process_never_touches_redis(pair, third, monitor):
    alice = Peer(pair.one.url, transports=["websocket"], username=name("alice"))
    bob = Peer(pair.one.url, transports=["websocket"], username=name("bob"))
    carol = Peer(third.url, transports=["websocket"], username=name("carol"))
    try:
        local = [alice.send(bob.user_id, f"local {i}")["message"]["id"] for i in range(5)]
        for mid in local:
            bob.wait_for("private message", lambda m, mid=mid: m["id"] == mid)
        marker = alice.send(carol.user_id, "across")["message"]["id"]
        carol.wait_for("private message", lambda m: m["id"] == marker)
        assert monitor.until(marker) == [(monitor.inbox(carol.user_id), marker)]
    finally:
        for tab in (alice, bob, carol):
            tab.close()


def test_of_three_processes_only_those_holding_a_recipient_hear_a_message(pair, third, monitor):
    alice = Peer(pair.one.url, transports=["websocket"], username=name("alice"))
    bystander = Peer(pair.two.url, transports=["websocket"], username=name("bystander"))
    carol = Peer(third.url, transports=["polling"], username=name("carol"))
    try:
        mid = alice.send(carol.user_id, "for process three only")["message"]["id"]
        got = carol.wait_for("private message", lambda m: m["id"] == mid)
        assert got["content"] == "for process three only"

        # The sender's other tab on process two: the echo goes there, once, and process
        # three still gets the message once.
        alice2 = Peer(pair.two.url, transports=["websocket"], sessionID=alice.session_id)
        try:
            second = alice.send(carol.user_id, "and to my other tab")["message"]["id"]
            alice2.wait_for("private message", lambda m: m["id"] == second)
            carol.wait_for("private message", lambda m: m["id"] == second)
            # Each publish of a message is made before its ack, and the two channels of
            # ``second`` are two publishes: once a later message is seen, both have been.
            marker = alice.send(carol.user_id, "marker")["message"]["id"]
            published = monitor.until(marker)
            assert [channel for channel, m in published if m == mid] == [
                monitor.inbox(carol.user_id)
            ]
            assert sorted(channel for channel, m in published if m == second) == sorted(
                [monitor.inbox(carol.user_id), monitor.inbox(bystander.user_id)]
            )
            # A reply from process three reaches both of alice's tabs, on one and two.
            reply = carol.send(alice.user_id, "back to both")["message"]["id"]
            for tab in (alice, alice2):
                tab.wait_for("private message", lambda m: m["id"] == reply)
        finally:
            alice2.close()
        assert bystander.received("private message") == []
    finally:
        for tab in (alice, bystander, carol):
            tab.close()
