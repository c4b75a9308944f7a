"""A departure while the database fails: deferred until it answers, never sent to the blocked."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

from chat import store
from chat.extensions import socketio
from tests.support.inprocess import open_tab
from tests.support.polling import wait_until


def database_down(*args, **kwargs):
    raise OperationalError("UPDATE users", {}, Exception("database is down"))


def test_a_departure_waits_for_the_database_and_still_skips_the_blocked(make_app, monkeypatch):
    app = make_app(ANNOUNCE_RETRY_S=0.05)
    bob = open_tab(app, username="bob")
    alice = open_tab(app, username="alice")
    carol = open_tab(app, username="carol")
    alice.emit("block", {"userID": bob.user_id})
    bob.clear()
    carol.clear()

    with monkeypatch.context() as patch:
        patch.setattr(store, "touch_last_seen", database_down)  # the pass's first read
        alice.close()
        # Who may hear it is unknown: not guessed (bob must never learn it), not dropped.
        assert carol.received("user disconnected") == bob.received("user disconnected") == []

    def announced() -> list:
        return carol.received("user disconnected")

    wait_until(announced, what="the departure, announced", sleep=socketio.sleep)
    assert carol.received("user disconnected") == [alice.user_id]
    assert bob.received("user disconnected") == []
    assert bob.received("user connected") == []
