"""Presence across processes: tabs on both, and the ghosts of a process killed with -9."""

from __future__ import annotations

import time

import pytest
import redis

from deploy.launch import Server
from tests.support.environments import KILL_TEST_PRESENCE, cluster_env, name
from tests.support.peer import Peer
from tests.support.polling import wait_until
from tests.support.shared_redis import REDIS_URL, forget, presence_sids, unique_prefix

pytestmark = pytest.mark.server


def closed_everywhere(prefix: str, tab: Peer) -> None:
    """Waits until the server has processed ``tab``'s close (it announces nothing to see)."""
    sid, user_id = tab.sio.get_sid("/"), tab.user_id
    tab.close()
    wait_until(lambda: sid not in presence_sids(prefix, user_id), what="the close processed")


def test_a_user_with_tabs_on_both_processes_stays_online_until_both_close(pair):
    watcher = Peer(pair.two.url, username=name("watch"))
    alice1 = Peer(pair.one.url, transports=["websocket"], username=name("alice"))
    alice2 = Peer(pair.two.url, transports=["polling"], sessionID=alice1.session_id)
    try:
        closed_everywhere(pair.prefix, alice1)
        # Barrier: process one publishes in order, and anything it had to say about alice's
        # tab (decided by the Redis script that removed the sid) went out within
        # milliseconds, long before a marker's handshake, login and close.
        marker = Peer(pair.one.url, username=name("mark"))
        marker.close()
        watcher.wait_for("user disconnected", lambda u: u == marker.user_id)
        assert alice1.user_id not in watcher.received("user disconnected")
        newcomer = Peer(pair.one.url, username=name("new"))
        listed = {u["userID"]: u for u in newcomer.wait_for("users")}
        assert listed[alice1.user_id]["connected"] is True
        newcomer.close()

        alice2.close()
        watcher.wait_for("user disconnected", lambda u: u == alice1.user_id)
        marker2 = Peer(pair.two.url, username=name("mark"))
        marker2.close()
        watcher.wait_for("user disconnected", lambda u: u == marker2.user_id)
        assert watcher.received("user disconnected").count(alice1.user_id) == 1
        later = Peer(pair.one.url, username=name("late"))
        listed = {u["userID"]: u for u in later.wait_for("users")}
        assert listed[alice1.user_id]["connected"] is False
        assert listed[alice1.user_id]["lastSeen"] is not None
        later.close()
    finally:
        for tab in (watcher, alice1, alice2):
            tab.close()


def test_a_tab_opening_while_another_closes_on_the_other_process_keeps_the_user_online(pair):
    watcher = Peer(pair.one.url, username=name("watch"))
    bob1 = Peer(pair.one.url, transports=["websocket"], username=name("bob"))
    try:
        for _ in range(5):
            # The new tab opens on process two while the old one closes on process one.
            bob2 = Peer(pair.two.url, transports=["websocket"], sessionID=bob1.session_id)
            closed_everywhere(pair.prefix, bob1)
            bob1 = bob2
        marker = Peer(pair.one.url, username=name("mark"))
        marker.close()
        watcher.wait_for("user disconnected", lambda u: u == marker.user_id)
        assert bob1.user_id not in watcher.received("user disconnected")
        # Every new tab was announced (PROTOCOL.md A2.5), from the other process.
        wait_until(lambda: len(watcher.received("user connected")) >= 5, what="5 announcements")
    finally:
        watcher.close()
        bob1.close()


def test_a_killed_process_is_purged_and_its_users_announced_offline(cluster_db, tmp_path):
    """kill -9: no shutdown code runs; the survivor purges the ghosts after the TTL."""
    prefix = unique_prefix()
    env = cluster_env(cluster_db, prefix, **KILL_TEST_PRESENCE)
    doomed = Server(env, log_path=tmp_path / "doomed.log").start()
    survivor = Server(env, log_path=tmp_path / "survivor.log").start()
    tabs: list[Peer] = []
    try:
        watcher = Peer(survivor.url, username=name("watch"))
        ghost = Peer(doomed.url, transports=["websocket"], username=name("ghost"))
        poller = Peer(doomed.url, transports=["polling"], username=name("poll"))
        both = Peer(doomed.url, transports=["websocket"], username=name("both"))
        both2 = Peer(survivor.url, transports=["polling"], sessionID=both.session_id)
        tabs += [watcher, ghost, poller, both, both2]
        for tab in (ghost, poller):
            watcher.wait_for("user connected", lambda u, t=tab: u["userID"] == t.user_id)

        killed = time.monotonic()
        doomed.kill()
        for tab in (ghost, poller):
            watcher.wait_for("user disconnected", lambda u, t=tab: u == t.user_id, timeout=30)
        purge_s = time.monotonic() - killed
        print(f"ghosts purged {purge_s:.2f}s after kill -9 (heartbeat 0.5 s, TTL 3 s)")
        assert purge_s < 30

        # Both: the tab on the survivor keeps the user online, announced or not.
        assert presence_sids(prefix, both.user_id) == {both2.sio.get_sid("/")}
        client = redis.Redis.from_url(REDIS_URL)
        assert client.scard(f"{prefix}presence:procs") == 1
        client.close()
        marker = Peer(survivor.url, username=name("mark"))
        marker.close()
        watcher.wait_for("user disconnected", lambda u: u == marker.user_id)
        assert both.user_id not in watcher.received("user disconnected")
        assert watcher.received("user disconnected").count(ghost.user_id) == 1

        later = Peer(survivor.url, username=name("late"))
        tabs.append(later)
        listed = {u["userID"]: u for u in later.wait_for("users")}
        assert listed[both.user_id]["connected"] is True
        # lastSeen is written by the purge loop: proof it runs inside the app context.
        assert listed[ghost.user_id]["connected"] is False
        assert listed[ghost.user_id]["lastSeen"] is not None
    finally:
        for tab in tabs:
            tab.close()
        survivor.stop()
        doomed.kill()
        forget(prefix)
