"""The session handshake (PROTOCOL.md A1/A2): who connects, and what it is told first.

``accept`` owns it from the CONNECT packet to the point where the socket may be told its
session: on refusal it leaves nothing behind (no socket in presence, no name taken).
"""

from __future__ import annotations

import logging
import sys
from typing import Any, NamedTuple

from flask import current_app, request, session
from flask_socketio import ConnectionRefusedError, join_room
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from chat import dispatch, instrument, logs, roster, store
from chat.extensions import db
from chat.presence import LISTENERS
from chat.services import services

log = logging.getLogger(__name__)

_NO_BLOCKS = store.Relations(frozenset(), frozenset())


class Auth(NamedTuple):
    """The CONNECT packet's ``auth``; anything unusable reads as absent."""

    sessionID: str | None = None
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, raw: object) -> Auth:
        """Lenient: a malformed auth object is treated as no credentials, a field that is
        not a string as absent, and unknown keys are ignored."""
        if not isinstance(raw, dict):
            return cls()
        return cls(*(value if isinstance(value := raw.get(k), str) else None for k in cls._fields))


class Accepted(NamedTuple):
    """What ``connect`` emits: to this socket its session and users; and what its
    announcement needs (``chat.announce``), as read for the users list."""

    me: store.Identity
    token: str
    users: list[dict[str, Any]]
    contacts: tuple[str, ...]  # the peers of its recent conversations but itself
    blocked: frozenset[str] | None  # the users it blocked; None: too many to read here


def accept(raw_auth: object) -> Accepted:
    """Resumes or creates the session of the connecting socket, joins its room, reads its
    users list and counts it in presence; raises ConnectionRefusedError otherwise."""
    config = current_app.config
    auth = Auth.parse(raw_auth)
    tokens = (auth.sessionID, session.get("sessionID"))
    me: store.Identity | None = None
    committed = opened = False
    try:
        me, token = store.sign_in(
            tokens, auth.username, auth.password or None, config["SESSION_IDLE_DAYS"], _limit_login
        )
        if token in tokens:
            _limit("resume", me.session_id)
        # A session it opened is undone by a refusal: by the rollback, or by _forget once
        # committed (where statements commit themselves, and a new name's batch).
        opened = token not in tokens
        committed = store.autocommit.active() or me.new_user
        dispatch.identify(request.environ, me)
        instrument.current.set(me)
        # Joined before history is read: a message stored from here on is relayed to this
        # socket, so none falls between the `users` snapshot and the live relay.
        join_room(me.user_id)
        # Likewise for presence: an arrival announced from here on reaches this socket.
        join_room(LISTENERS)
        presence = services().presence
        # On SQLite one transaction from the sign-in to here (a new name's is committed
        # already): the commit that ends the users list's read also stores a resume's touch
        # or a reclaimed name's session, any failure before undoes them.
        # The contacts and blocks are read once, for the users list and the announcement;
        # a user this handshake created has neither (no row can name its id yet), and its
        # list is read with the other newcomers'.
        limit = config["USERS_LIST_LIMIT"]
        if me.new_user:
            contacts, blocks = [], _NO_BLOCKS
            users = roster.newcomer_list(me.user_id, me.username)
        else:
            contacts = store.contacts(me.user_id, limit)
            blocks = store.blocks_of(me.user_id)
            users = roster.users_list(
                me.user_id, presence, config["HISTORY_PAGE"], limit, contacts, blocks
            )
        committed = True
        # Last, so that a refusal above leaves no socket behind in presence.
        presence.connect(me.user_id, request.sid, me.session_id)
        peers = tuple(peer for peer, _ in contacts if peer != me.user_id)
        return Accepted(me, token, users, peers, blocks.mine if blocks is not None else None)
    except store.StoreError as exc:
        db.session.rollback()  # a refused resume keeps nothing it touched
        raise ConnectionRefusedError(exc.code) from None
    except (SQLAlchemyError, RedisError):
        # Database or (with REDIS_URL) presence down: a clear refusal rather than a hang.
        db.session.rollback()
        where = "redis" if isinstance(sys.exc_info()[1], RedisError) else "db"
        log.exception("storage failed", extra=logs.fields("exception", None, where))
        if committed and opened:
            _forget(me)
        raise ConnectionRefusedError("unavailable") from None


def _limit(action: str, key: object) -> None:
    """Takes a token of ``action``'s bucket for ``key``; raises RateLimited when it is empty.

    Limits by what a handshake costs and who can repeat it (docs/security.md): a resume of
    a live session per session, so that any number of people behind one address get back
    in at once; everything else per address.
    """
    config = current_app.config
    name = action.upper()
    if services().limiter.take(f"{action}:{key}", config[f"{name}_RATE"], config[f"{name}_BURST"]):
        raise store.RateLimited(f"too many {action} handshakes")


def _limit_login(named: bool) -> None:
    # No live session: garbage, an expired session, or a login by name (a new user or a
    # password to check, which only an address can be held to).
    _limit("connect", request.remote_addr)
    if named:
        _limit("signup", request.remote_addr)


def _forget(me: store.Identity) -> None:
    # A name created by a refused handshake would stay taken, unclaimable without a password;
    # a session it opened would stay live though no client holds its sessionID.
    try:
        store.forget_new_user(me)
        services().known_users.forget(me.user_id)
    except SQLAlchemyError:
        db.session.rollback()
        log.exception(
            "refused user not forgotten", extra=logs.fields("exception", me.user_id, "db")
        )
