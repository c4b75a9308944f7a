"""The Redis heartbeat's sweep: a dead process's users are announced offline by the living,
with their last seen time stored (chat.events._announce_offline in the presence loop)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from chat import events, store
from chat.extensions import db
from chat.models import User
from chat.services import services
from tests.cluster.test_redis_presence import expire, process, until
from tests.support.inprocess import open_tab


def spawn(target: Callable) -> threading.Thread:
    # Under the test client Flask-SocketIO picks gevent without monkey-patching, so its
    # background greenlets never run while the test blocks: the loop runs in a thread.
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def test_a_dead_processs_user_is_announced_offline_and_last_seen_stored(make_app, redis_prefix):
    app = make_app()
    # This app's presence is one process of a cluster; `dead` is another, killed below.
    presence = services(app).presence = process(redis_prefix, heartbeat=0.05, ttl=0.5)
    # The loop as start_presence starts it on a first connect, with the real announcements.
    presence.start(app, spawn, time.sleep, events._announce_offline, events._announce_online)
    dead = process(redis_prefix)
    try:
        with app.app_context():
            bob = store.login("bob")[0]
        dead.tick()
        dead.connect(bob.user_id, "bobs-tab")
        alice = open_tab(app, username="alice")
        assert {u["userID"]: u["connected"] for u in alice.first("users")}[bob.user_id] is True
        expire(dead)  # what its heartbeat's TTL does once it is killed
        until(lambda: bob.user_id in alice.received("user disconnected"))
        with app.app_context():
            assert db.session.get(User, bob.user_id).last_seen is not None
        assert presence.online([bob.user_id]) == set()
    finally:
        dead.close()
