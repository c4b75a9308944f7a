"""New users of a burst created together (chat.store.signups): one batch for the names and
sessions of those arriving at once; a taken name, a duplicate and a failure stay per user."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError

from chat import store
from chat.extensions import db, socketio
from chat.models import Session, User, utcnow
from chat.store import signups
from tests.support.batching import Held, behind_the_first


def burst(app, socket_client, monkeypatch, names: list[str]) -> list:
    """Connects one client per name: the first one's batch is held until the others have
    queued behind it; returns the clients, in the order of ``names``."""
    held = Held(signups.create_batch)
    monkeypatch.setattr(signups, "create_batch", held)
    clients: list = [None] * len(names)

    def connect(i: int, name: str) -> None:
        clients[i] = socket_client(auth={"username": name})

    behind_the_first(connect, names, held, lambda: signups.group_of(app).pending())
    return clients


def refusals(caplog) -> list[str]:
    """The reasons of the handshakes refused so far (the test client's own record of a
    CONNECT_ERROR is not kept across threads)."""
    return [r.reason for r in caplog.records if getattr(r, "event", None) == "refused"]


def counts(app) -> tuple[int, int]:
    with app.app_context():
        users = db.session.scalar(select(func.count()).select_from(User))
        sessions = db.session.scalar(select(func.count()).select_from(Session))
        return users, sessions


def test_a_burst_of_new_names_shares_a_batch_and_a_duplicate_in_it_is_taken(
    app, socket_client, monkeypatch, caplog
):
    names = ["amy", "bob", "Bob", "cyd"]  # "Bob" chooses bob's name in the same batch
    clients = burst(app, socket_client, monkeypatch, names)
    amy, bob, bob_again, cyd = clients
    assert not bob_again.is_connected()
    assert refusals(caplog) == ["username_taken"]
    sessions = {}
    for name, client in (("amy", amy), ("bob", bob), ("cyd", cyd)):
        assert client.is_connected(), client.connect_error
        got = {p["name"]: p["args"][0] for p in client.get_received()}
        me = next(u for u in got["users"] if u["userID"] == got["session"]["userID"])
        assert me["username"] == name
        sessions[name] = got["session"]
    # amy's batch alone (held), then the three that queued meanwhile: two batches.
    assert signups.group_of(app).batches == 2
    assert counts(app) == (3, 3)
    # Each session is its own and resumes its user.
    for name, sent in sessions.items():
        again = socket_client(auth={"sessionID": sent["sessionID"]})
        assert again.is_connected(), name
        got = {p["name"]: p["args"][0] for p in again.get_received()}
        assert got["session"] == sent


def test_a_lone_sign_in_is_committed_at_once_without_a_timer(app, monkeypatch):
    sleeps: list[float] = []
    real_sleep = socketio.sleep
    monkeypatch.setattr(socketio, "sleep", lambda s=0: (sleeps.append(s), real_sleep(s)))
    with app.app_context():
        me, token = store.login("solo")
        assert me.new_user and signups.group_of(app).batches == 1
        assert sleeps == [0]  # the one yield to queue others: no wait, no timer
        db.session.rollback()  # nothing pending: the batch committed it
        again = store.resume(token, 30)
        assert (again.user_id, again.session_id) == (me.user_id, me.session_id)


def test_a_failing_batch_refuses_only_its_members_and_the_next_batch_runs(
    app, socket_client, monkeypatch, caplog
):
    app.config["GROUP_COMMIT_SIZE"] = 2  # read when the first sign-in makes the group
    real_store = signups._store

    def failing(batch):
        if any(new.username == "bad" for new in batch):
            raise OperationalError("INSERT", {}, Exception("database is down"))
        return real_store(batch)

    monkeypatch.setattr(signups, "_store", failing)
    names = ["amy", "bad", "cyd", "dee"]  # batches of 2: [amy], [bad, cyd], [dee]
    amy, bad, cyd, dee = burst(app, socket_client, monkeypatch, names)
    assert amy.is_connected() and dee.is_connected()
    assert not bad.is_connected() and not cyd.is_connected()
    assert refusals(caplog) == ["unavailable", "unavailable"]
    assert counts(app) == (2, 2)
    # Nothing of the failed batch was kept: its names are free.
    monkeypatch.setattr(signups, "_store", real_store)
    assert socket_client(auth={"username": "cyd"}).is_connected()


def test_an_integrity_failure_is_retried_user_by_user(app):
    now = utcnow()
    first = signups.NewUser("0123456789abcdef", "amy", "amy", None, "h1", now)
    same_id = first._replace(username="bob", name_key="bob", token_hash="h2")
    later = signups.NewUser("fedcba9876543210", "cyd", "cyd", None, "h3", now)
    with app.app_context():
        ok, clash, ok_too = signups.create_batch([first, same_id, later])
        assert isinstance(ok, int) and isinstance(ok_too, int) and ok != ok_too
        assert isinstance(clash, IntegrityError)
        names = db.session.scalars(select(User.username).order_by(User.username)).all()
        assert names == ["amy", "cyd"]


@pytest.mark.parametrize("taken", ["amy", "AMY"])
def test_a_name_taken_before_the_batch_is_refused_and_nothing_is_written(app, taken):
    with app.app_context():
        store.login("amy")
        new = signups.NewUser("fedcba9876543210", taken, taken.casefold(), None, "h", utcnow())
        [outcome] = signups.create_batch([new])
        assert isinstance(outcome, store.UsernameTaken)
    assert counts(app) == (1, 1)


def test_a_refusal_after_the_batch_leaves_the_new_name_free(
    app, socket_client, monkeypatch, caplog
):
    def failing(*_args, **_kwargs):
        raise OperationalError("SELECT", {}, Exception("database is down"))

    monkeypatch.setattr(store, "newcomer_listing", failing)
    assert not socket_client(auth={"username": "amy"}).is_connected()
    assert refusals(caplog) == ["unavailable"]
    assert signups.group_of(app).batches == 1  # the name and session were committed...
    assert counts(app) == (0, 0)  # ...and deleted by the refusal
    monkeypatch.undo()
    assert socket_client(auth={"username": "amy"}).is_connected()
