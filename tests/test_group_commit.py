"""Group commit (chat.groupcommit, chat.store.batch): messages arriving together share one
transaction, each acked after it; retries, order and failures stay per message."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError

from chat import store
from chat.extensions import db, socketio
from chat.groupcommit import GroupCommit
from chat.models import Message, ReadState
from chat.store.batch import Draft, group_of, save_batch


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Polls a condition another thread makes true (no event exists to await there)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.001)


@contextmanager
def counted_commits(app, hold_first: threading.Event | None = None) -> Iterator[list[int]]:
    """Counts the database commits in the block; with ``hold_first``, the first commit
    waits for that event (its batch stays open while others queue)."""
    commits: list[int] = []

    def on_commit(_conn):
        commits.append(1)
        if hold_first is not None and len(commits) == 1:
            assert hold_first.wait(10)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "commit", on_commit)
    try:
        yield commits
    finally:
        event.remove(engine, "commit", on_commit)


def users(app, *names: str) -> list[str]:
    with app.app_context():
        return [store.login(name)[0].user_id for name in names]


def test_a_burst_from_several_clients_shares_commits_and_keeps_arrival_order(app, connect_as):
    bob = connect_as("bob")
    alice = connect_as("alice")
    alice2 = connect_as(session_id=alice.session_id)  # one user's two tabs, at once
    carol = connect_as("carol")
    dave = connect_as("dave")
    senders = [alice, alice2, carol, dave, alice, carol]
    for tab in (bob, alice, alice2, carol, dave):
        tab.clear()
    release = threading.Event()
    acks: dict[int, dict] = {}

    def send(i: int) -> None:
        acks[i] = senders[i].send(bob.user_id, f"m{i}", clientId=f"c{i}")

    with counted_commits(app, hold_first=release) as commits:
        first = threading.Thread(target=send, args=(0,))
        first.start()
        wait_until(lambda: len(commits) == 1)  # m0's batch is committing
        group = group_of(app)
        threads = [first]
        for i in range(1, len(senders)):  # each queued before the next is sent
            threads.append(threading.Thread(target=send, args=(i,)))
            threads[-1].start()
            wait_until(lambda i=i: group.pending() == i)
        release.set()
        for thread in threads:
            thread.join(10)
    # m0 alone, then everything that queued meanwhile: one more transaction.
    assert len(commits) == 2
    assert all(acks[i]["ok"] for i in range(len(senders))), acks
    ids = [acks[i]["message"]["id"] for i in range(len(senders))]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)  # arrival order, both of alice's tabs
    got = bob.received("private message")
    assert sorted(m["id"] for m in got) == ids
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Message)) == len(senders)
        unread = db.session.scalars(
            select(ReadState.unread).where(ReadState.user_id == bob.user_id)
        ).all()
        assert sorted(unread) == [1, 2, 3]  # dave, carol, alice


def test_a_lone_message_is_committed_before_its_ack_without_a_timer(app, connect_as, monkeypatch):
    bob = connect_as("bob")
    alice = connect_as("alice")
    sleeps: list[float] = []
    real_sleep = socketio.sleep
    monkeypatch.setattr(socketio, "sleep", lambda s=0: (sleeps.append(s), real_sleep(s)))
    with counted_commits(app) as commits:
        ack = alice.send(bob.user_id, "hello")
        assert ack["ok"]
        assert len(commits) == 1  # committed by the time the ack came back
    assert sleeps == [0]  # the one yield to queue others: no wait, no timer
    assert bob.received("private message")[-1]["id"] == ack["message"]["id"]


def test_one_senders_repeated_client_id_in_one_batch_is_stored_once(app):
    alice, bob = users(app, "alice", "bob")
    with app.app_context(), counted_commits(app) as commits:
        outcomes = save_batch(
            [
                Draft(alice, bob, "first", "same"),
                Draft(alice, bob, "retry", "same"),
                Draft(bob, alice, "other sender", "same"),
                Draft(alice, bob, "no clientId", None),
            ]
        )
        assert len(commits) == 1
        first, retry, other, plain = outcomes
        assert first.created and not retry.created
        assert retry.message.id == first.message.id and retry.message.content == "first"
        assert other.created and plain.created
        assert first.message.id < other.message.id < plain.message.id
        assert db.session.scalar(select(func.count()).select_from(Message)) == 3
        # A later batch retrying it gets the stored message back, not a new one.
        [again] = save_batch([Draft(alice, bob, "late retry", "same")])
        assert not again.created and again.message.id == first.message.id


def test_an_unknown_recipient_fails_only_its_own_message(app):
    alice, bob = users(app, "alice", "bob")
    with app.app_context():
        ok1, bad, ok2 = save_batch(
            [
                Draft(alice, bob, "a", None),
                Draft(alice, "nosuchuser", "b", None),
                Draft(alice, bob, "c", None),
            ]
        )
        assert isinstance(bad, store.UnknownRecipient)
        assert ok1.created and ok2.created and ok1.message.id < ok2.message.id
        stored = db.session.scalars(select(Message.content).order_by(Message.id)).all()
        assert stored == ["a", "c"]


def test_a_batch_keeps_conversation_rows_as_one_by_one_sends_would(app):
    alice, bob = users(app, "alice", "bob")
    with app.app_context():
        outcomes = save_batch(
            [
                Draft(alice, bob, "opens", None),
                Draft(bob, alice, "reply", None),
                Draft(alice, bob, "again", None),
                Draft(alice, alice, "note", None),
            ]
        )
        assert [o.opened for o in outcomes] == [True, False, False, False]
        ids = [o.message.id for o in outcomes]
        rows = {
            (r.user_id, r.peer_id): (r.last_id, r.unread)
            for r in db.session.scalars(select(ReadState))
        }
        assert rows == {
            (alice, bob): (ids[2], 1),
            (bob, alice): (ids[2], 2),
            (alice, alice): (ids[3], 0),
        }
        [next_one] = save_batch([Draft(bob, alice, "later", None)])
        assert not next_one.opened
        assert db.session.get(ReadState, (alice, bob)).unread == 2


def test_a_failing_batch_is_raised_to_each_of_its_senders_and_the_next_batch_runs():
    calls: list[list[str]] = []
    release = threading.Event()

    def commit(items):
        calls.append(list(items))
        if len(calls) == 1:
            assert release.wait(10)
            return [f"stored {item}" for item in items]
        if "bad" in items:
            raise OperationalError("INSERT", {}, Exception("database is down"))
        return [f"stored {item}" for item in items]

    group = GroupCommit(commit, size=2, pause=lambda: None)
    results: dict[str, object] = {}

    def submit(item: str) -> None:
        try:
            results[item] = group.submit(item)
        except OperationalError as exc:
            results[item] = exc

    threads = [threading.Thread(target=submit, args=(item,)) for item in ("a", "bad", "c", "d")]
    threads[0].start()
    wait_until(lambda: len(calls) == 1)
    for i, thread in enumerate(threads[1:], start=1):
        thread.start()
        wait_until(lambda i=i: group.pending() == i)
    release.set()
    for thread in threads:
        thread.join(10)
    # Bounded batches of 2, in arrival order; only the failed batch's senders see the error.
    assert calls == [["a"], ["bad", "c"], ["d"]]
    assert results["a"] == "stored a" and results["d"] == "stored d"
    assert isinstance(results["bad"], OperationalError) and results["c"] is results["bad"]
    assert group.pending() == 0


@pytest.mark.parametrize("size", [1, 3])
def test_a_lone_submit_is_committed_by_its_own_caller(size):
    seen: list[str] = []

    def commit(items):
        seen.append(threading.current_thread().name)
        return list(items)

    group = GroupCommit(commit, size=size, pause=lambda: None)
    assert group.submit("x") == "x"
    assert seen == [threading.current_thread().name] and group.batches == 1
