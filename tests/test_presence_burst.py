"""Presence announcements of a burst (chat.announce): taken together in bounded passes, each
change still its own event to each listener, in the order submitted, never to the blocked."""

from __future__ import annotations

import threading

from chat import announce, store
from chat.services import services
from tests.support.inprocess import open_tab
from tests.support.polling import wait_until


def held_count(app):
    """Makes the first pass wait inside its presence count until the returned event is set."""
    presence = services(app).presence
    count = presence.count
    release = threading.Event()
    entered = threading.Event()

    def held() -> int:
        if not entered.is_set():
            entered.set()
            assert release.wait(10)
        return count()

    presence.count = held
    return entered, release


def submit_in_thread(app, change: announce.Change) -> threading.Thread:
    def run() -> None:
        with app.app_context():
            announce.submit(change)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_burst_is_announced_in_bounded_passes_each_change_once_in_order(make_app):
    app = make_app(ANNOUNCE_BATCH=3)
    bob = open_tab(app, username="bob")
    carol = open_tab(app, username="carol")
    with app.app_context():
        arrivals = [store.login(f"user{i}")[0] for i in range(6)]
        store.block(arrivals[2].user_id, bob.user_id)
    gone = arrivals[4]
    changes = [announce.Change(a.user_id, True, a.username) for a in arrivals]
    changes.insert(5, announce.Change(gone.user_id, False))  # user4 came, then went
    for tab in (bob, carol):
        tab.clear()
    entered, release = held_count(app)
    before = announce.passes(app)
    lead = submit_in_thread(app, announce.Change(arrivals[5].user_id, False))
    assert entered.wait(10)  # the first pass is running: the burst queues behind it
    announcer = announce._ANNOUNCERS[app]
    threads = [lead]
    for i, change in enumerate(changes, start=1):  # each queued before the next
        threads.append(submit_in_thread(app, change))
        wait_until(lambda i=i: announcer.pending() == i, interval=0.001)
    release.set()
    for thread in threads:
        thread.join(10)
        assert not thread.is_alive()

    # The leader's pass, then the 7 queued changes in passes of at most 3.
    assert announce.passes(app) - before == 1 + 3
    events = [
        (name, data["userID"] if name == "user connected" else data)
        for name, data in zip(carol.names(), carol.received(), strict=True)
        if name in ("user connected", "user disconnected")
    ]
    expected = [("user disconnected", arrivals[5].user_id)] + [
        ("user connected" if c.online else "user disconnected", c.user_id) for c in changes
    ]
    assert events == expected
    # Each arrival with the A2.5 payload; the blocker's presence never reaches bob.
    assert carol.received("user connected")[0] == {
        "userID": arrivals[0].user_id,
        "username": "user0",
        "connected": True,
        "messages": [],
    }
    heard = [u["userID"] for u in bob.received("user connected")]
    assert heard == [c.user_id for c in changes if c.online and c.user_id != arrivals[2].user_id]
    with app.app_context():
        assert store.get_user(gone.user_id).last_seen is not None
        assert store.get_user(arrivals[0].user_id).last_seen is None


def test_a_pass_reads_the_blocks_of_its_whole_batch_in_one_statement(make_app):
    app = make_app()
    bob = open_tab(app, username="bob")
    with app.app_context():
        users = [store.login(f"user{i}")[0] for i in range(5)]
        for u in users[:3]:
            store.block(u.user_id, bob.user_id)
        bob.clear()
        blocked = store.blocked_by(u.user_id for u in users)
        assert blocked == {u.user_id: {bob.user_id} for u in users[:3]}
        announce.announce([announce.Change(u.user_id, True, u.username) for u in users])
    assert [u["userID"] for u in bob.received("user connected")] == [u.user_id for u in users[3:]]


def test_a_lone_change_is_announced_before_submit_returns(make_app):
    app = make_app()
    bob = open_tab(app, username="bob")
    with app.app_context():
        alice = store.login("alice")[0]
        bob.clear()
        announce.submit(announce.Change(alice.user_id, True))  # name looked up by the pass
        assert [u["username"] for u in bob.received("user connected")] == ["alice"]
        announce.submit(announce.Change(alice.user_id, False))
        assert bob.received("user disconnected") == [alice.user_id]
        assert store.get_user(alice.user_id).last_seen is not None
