"""SQLite under gunicorn: the log is copied into the database file by the checkpointing
thread (chat/checkpoint.py), not by a commit on the event loop once 1,000 pages piled up."""

from __future__ import annotations

import sqlite3

import pytest

from deploy.launch import Server, migrate
from tests.support.environments import GENEROUS
from tests.support.peer import Peer
from tests.support.polling import wait_until

pytestmark = pytest.mark.server


def test_a_few_messages_reach_the_database_file_without_a_thousand_pages(tmp_path):
    path = tmp_path / "chat.db"
    env = {**GENEROUS, "DATABASE_URL": f"sqlite:///{path}", "SQLITE_CHECKPOINT_S": "0.05"}
    migrate(env)
    server = Server(env, log_path=tmp_path / "server.log").start()
    alice = bob = None
    try:
        bob = Peer(server.url, transports=["websocket"], username="bob")
        alice = Peer(server.url, transports=["websocket"], username="alice")
        marker = "copied into the database file by the checkpointer"
        assert alice.send(bob.user_id, marker)["ok"] is True
        # A few pages: SQLite's own auto-checkpoint (1,000 pages) would leave them in the log.
        wait_until(lambda: marker.encode() in path.read_bytes(), timeout=10, what="checkpoint")
        with sqlite3.connect(path) as check:
            assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        for peer in (alice, bob):
            if peer is not None:
                peer.close()
        server.stop()
