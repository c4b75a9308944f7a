"""`make cluster-restart` under load: every acked message stored once, nobody seen offline."""

from __future__ import annotations

import json
import time

import psycopg
import pytest

from deploy.launch import Server
from tests.support.commands import cluster, free_block
from tests.support.environments import cluster_env, name
from tests.support.peer import Peer
from tests.support.polling import wait_until
from tests.support.sender import Sender
from tests.support.shared_redis import forget, unique_prefix

pytestmark = pytest.mark.server


def test_rolling_restart_loses_no_message_and_flaps_nobody(cluster_db, tmp_path):
    prefix = unique_prefix()
    env = cluster_env(cluster_db, prefix, SECRET_KEY="test-secret")
    run_dir = tmp_path / "cluster"
    port = free_block(3)
    # The watcher sits on a third process of the same cluster that is never restarted, so it
    # sees every presence broadcast, including any flap.
    outside = Server(env, log_path=tmp_path / "outside.log")
    peers: list[Peer] = []
    senders: list[Sender] = []
    tabs: list[Peer] = []
    try:
        up = cluster(run_dir, env, "up", "--port", str(port), "-n", "2")
        assert up.returncode == 0, up.stderr
        outside.start()
        watcher = Peer(outside.url, username=name("watch"))
        tabs.append(watcher)
        url = f"http://127.0.0.1:{port}"
        peers = [Peer(url, reconnect=True, username=name("user")) for _ in range(4)]
        for peer in peers:
            watcher.wait_for("user connected", lambda u, p=peer: u["userID"] == p.user_id)
        senders = [
            Sender(peer, to=peers[(i + 1) % len(peers)].user_id) for i, peer in enumerate(peers)
        ]
        for sender in senders:
            sender.start()
        wait_until(lambda: all(len(s.acked) >= 5 for s in senders), what="streaming")

        before = json.loads((run_dir / "cluster.json").read_text())["pids"]
        started = time.monotonic()
        restart = cluster(run_dir, env, "restart")
        took = time.monotonic() - started
        assert restart.returncode == 0, restart.stderr
        after = json.loads((run_dir / "cluster.json").read_text())["pids"]
        assert set(before.values()).isdisjoint(after.values())  # both processes replaced

        marks = [len(s.acked) for s in senders]
        wait_until(
            lambda: all(len(s.acked) >= m + 5 for s, m in zip(senders, marks, strict=True)),
            what="streaming after the restart",
        )
        for sender in senders:
            sender.stop()

        # The restart did reach the clients: each was moved at least once.
        assert all(peer.sessions >= 2 for peer in peers)
        assert [s.errors for s in senders] == [[]] * len(senders)

        acked = {m["id"]: m for s in senders for m in s.acked.values()}
        with psycopg.connect(cluster_db) as conn:
            rows = conn.execute(
                "SELECT id, client_id, content FROM messages WHERE sender_id = ANY(%s)",
                ([p.user_id for p in peers],),
            ).fetchall()
        stored_ids = [row[0] for row in rows]
        assert len(stored_ids) == len(set(stored_ids))
        assert sorted(stored_ids) == sorted(acked)  # acked = stored, each once, none extra
        assert len({row[1] for row in rows}) == len(rows)  # one row per clientId
        assert all(acked[i]["content"] == content for i, _cid, content in rows)

        # Nobody was seen going offline, and everybody is online at the end.
        marker = Peer(outside.url, username=name("mark"))
        marker.close()
        watcher.wait_for("user disconnected", lambda u: u == marker.user_id)
        ids = {p.user_id for p in peers}
        assert ids.isdisjoint(watcher.received("user disconnected"))
        late = Peer(outside.url, username=name("late"))
        listed = {u["userID"]: u["connected"] for u in late.wait_for("users")}
        late.close()
        assert all(listed[i] for i in ids)

        retried = sum(s.retried for s in senders)
        print(
            f"rolling restart of 2 processes in {took:.1f}s: {len(acked)} messages acked and "
            f"stored once, {retried} sends retried, longest pause per user "
            f"{max(s.longest_gap() for s in senders):.2f}s, "
            f"reconnections {[p.sessions - 1 for p in peers]}, 0 presence flaps"
        )
    finally:
        try:
            for sender in senders:
                sender.halt()
            for tab in [*peers, *tabs]:
                tab.close()
        finally:
            cluster(run_dir, env, "down")
            outside.stop()
            forget(prefix)
