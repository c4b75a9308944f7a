"""Presence announcements (PROTOCOL.md A2.5, A4), batched: the ``user connected`` and ``user
disconnected`` events of a burst of arrivals and departures go out in passes, each doing
its audience work once.

A change is submitted to the app's announcer, ``chat.groupcommit``'s leader/follower scheme
without timers: a change that finds no pass running is announced at once (after one
yield, so that handshakes already readable can queue theirs); those submitted while a pass
runs are taken together, at most ``ANNOUNCE_BATCH``, by the next. A submitter returns once
its change has been emitted, so a socket's later events follow its announcement, and a
process emits its changes in the order they were submitted: a "user disconnected" never
overtakes the "user connected" before it.

Who hears a change (``audience``) is decided per change, with what a pass reads once for
all of them: the presence count, the blocks of the users the handshake did not read them
for (one statement), the online users (only when someone blocked someone while few are
online), the recent contacts of departures beyond the cap (one statement), and the
departures' last seen (one statement). Each change is still its own event; with REDIS_URL
the pass's emits reach each other process in one publish (``chat.messagequeue``).

When those reads fail (the database down), a change whose audience depends on them (a
departure, an arrival presence put back) is not guessed at: sent to everyone it would
reach users it blocked (PROTOCOL.md B8), to nobody it would leave others showing a stale
status. It is deferred, the latest of each user, and announced once the database answers
again, if it still holds then (``ANNOUNCE_RETRY_S``). An arrival through a handshake knows
its blocks already and goes out at once.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Sequence
from typing import NamedTuple
from weakref import WeakKeyDictionary

from flask import Flask, current_app
from sqlalchemy.exc import SQLAlchemyError

from chat import groupcommit, logs, payloads, store
from chat.extensions import db, socketio
from chat.groupcommit import GroupCommit
from chat.presence import LISTENERS, Presence
from chat.services import services

log = logging.getLogger(__name__)


class Change(NamedTuple):
    """A user that came online (``online``) or went offline, and what is already known."""

    user_id: str
    online: bool
    username: str | None = None  # online: its name (None: looked up by the pass)
    skip_sid: str | None = None  # the socket the change came from
    contacts: tuple[str, ...] | None = None  # its recent peers but itself, if read
    blocked: frozenset[str] | None = None  # the users it blocked, if read


# One announcer per app: tests make many apps.
_ANNOUNCERS: WeakKeyDictionary[Flask, GroupCommit[Change, bool]] = WeakKeyDictionary()


class _Deferred:
    """The changes of an app that wait for the database, and whether a retry is running."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.changes: dict[str, Change] = {}  # user id -> that user's latest change
        self.retrying = False


_DEFERRED: WeakKeyDictionary[Flask, _Deferred] = WeakKeyDictionary()


def submit(change: Change) -> None:
    """Announces ``change``; returns once it has been emitted with the changes of its pass."""
    app = current_app._get_current_object()
    announcer = groupcommit.of_app(_ANNOUNCERS, app, announce, int(app.config["ANNOUNCE_BATCH"]))
    try:
        announcer.submit(change)
    except Exception:  # the socket is accepted already: its session and users were sent
        log.exception("presence not announced", extra=logs.fields("exception", None, "announce"))


def passes(app: Flask) -> int:
    """How many announcement passes ``app`` has run (for tests)."""
    announcer = _ANNOUNCERS.get(app)
    return announcer.batches if announcer is not None else 0


class _Known(NamedTuple):
    """What one pass reads for all its changes."""

    names: dict[str, str]
    blocked: dict[str, set[str]]
    contacts: dict[str, list[str]]


def announce(changes: Sequence[Change]) -> list[bool]:
    """One pass: the audience work for all of ``changes``, then each change's event, in order."""
    limit = current_app.config["USERS_LIST_LIMIT"]
    presence = services().presence
    few = presence.count() <= limit
    known = _read(changes, few, limit)
    now = changes
    if known is None and any(c.blocked is None for c in changes):
        _defer([c for c in changes if c.blocked is None])
        now = [c for c in changes if c.blocked is not None]
    online = None
    if few and known is not None and any(_blocked(c, known) for c in now):
        online = presence.online()
    with _one_publish():
        for change in now:
            rooms = _audience(change, known, few, online, presence)
            if change.online:
                name = change.username or (known.names.get(change.user_id) if known else None)
                if name is None:
                    continue  # a user deleted since: nobody to introduce
                event = "user connected"
                data: object = payloads.introduction(change.user_id, name)
            else:
                event, data = "user disconnected", change.user_id
            socketio.emit(event, data, to=rooms, skip_sid=change.skip_sid)
    return [True] * len(changes)


def _read(changes: Sequence[Change], few: bool, limit: int) -> _Known | None:
    """The pass's reads and the departures' last seen, committed; None if the database failed."""
    try:
        gone = [c.user_id for c in changes if not c.online]
        if gone:
            store.touch_last_seen(gone)
        names = store.usernames(c.user_id for c in changes if c.online and c.username is None)
        blocked = store.blocked_by(c.user_id for c in changes if c.blocked is None)
        contacts = {}
        if not few:
            contacts = store.contact_ids((c.user_id for c in changes if c.contacts is None), limit)
        db.session.commit()  # never a transaction (SQLite: its one connection) across emits
        return _Known(names, blocked, contacts)
    except SQLAlchemyError:
        db.session.rollback()
        log.exception("presence not read", extra=logs.fields("exception", None, "db"))
        return None


def _blocked(change: Change, known: _Known | None) -> frozenset[str] | set[str]:
    if change.blocked is not None:
        return change.blocked
    return known.blocked.get(change.user_id, set()) if known is not None else set()


def _audience(
    change: Change,
    known: _Known | None,
    few: bool,
    online: set[str] | None,
    presence: Presence,
) -> str | list[str]:
    """Who hears ``change``: every listening socket while all online users fit in a
    ``users`` list; beyond that its own tabs and its recent conversations, so that bringing
    N users online costs O(N), not N² events (docs/performance.md). Never the users it
    blocked (PROTOCOL.md B8)."""
    uid = change.user_id
    blocked = _blocked(change, known)
    if few:
        if not blocked:
            return LISTENERS
        # Few online (at most the list's limit): name each room rather than skip sockets,
        # so that every process, each knowing only its own sockets, leaves the same users out.
        others = online if online is not None else presence.online()
        return [uid, *(u for u in others if u != uid and u not in blocked)]
    if change.contacts is not None:
        peers: Sequence[str] = change.contacts
    elif known is not None:
        peers = known.contacts.get(uid, [])
    else:
        peers = []
    return [uid, *(u for u in peers if u not in blocked)]


def _defer(changes: Sequence[Change]) -> None:
    """Keeps ``changes`` for a later pass and makes sure one retry is running."""
    app = current_app._get_current_object()
    deferred = _DEFERRED.setdefault(app, _Deferred())
    with deferred.lock:
        deferred.changes.update((c.user_id, c) for c in changes)
        start, deferred.retrying = not deferred.retrying, True
    if start:
        socketio.start_background_task(_retry, app, deferred)


def _retry(app: Flask, deferred: _Deferred) -> None:
    """Announces the deferred changes that still hold, every ``ANNOUNCE_RETRY_S`` until none
    is left (a pass that fails again defers its changes again)."""
    while True:
        socketio.sleep(app.config["ANNOUNCE_RETRY_S"])
        with deferred.lock:
            changes = list(deferred.changes.values())
            deferred.changes.clear()
            if not changes:
                deferred.retrying = False
                return
        try:
            with app.app_context():
                online = services(app).presence.online(c.user_id for c in changes)
                for change in changes:
                    # A user back online since a deferred departure (or gone since an
                    # arrival) has had that newer change announced already, or will have.
                    if change.online == (change.user_id in online):
                        submit(change)
        except Exception:  # presence's own store failing: these wait for the next try
            log.exception("presence not announced", extra=logs.fields("exception", None, "db"))
            with deferred.lock:
                for change in changes:
                    deferred.changes.setdefault(change.user_id, change)


@contextlib.contextmanager
def _one_publish() -> Iterator[None]:
    """With a message queue, the emits inside go to each other process in one publish."""
    batch = getattr(socketio.server.manager, "batch", None) if socketio.server else None
    if batch is None:
        yield
        return
    with batch():
        yield
