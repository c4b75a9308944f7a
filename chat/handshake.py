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
from pydantic import BaseModel, ConfigDict
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from chat import dispatch, instrument, logs, roster, store
from chat.extensions import db
from chat.services import services

log = logging.getLogger(__name__)


class Auth(BaseModel):
    """The CONNECT packet's ``auth``; anything unusable reads as absent."""

    model_config = ConfigDict(extra="ignore")
    sessionID: str | None = None
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, raw: object) -> Auth:
        """Lenient: a malformed auth object is treated as no credentials."""
        if not isinstance(raw, dict):
            return cls()
        fields = {k: v for k, v in raw.items() if k in cls.model_fields and isinstance(v, str)}
        return cls(**fields)


class Accepted(NamedTuple):
    """What ``connect`` emits: to this socket its session and users, to the audience ``me``."""

    me: store.Identity
    token: str
    users: list[dict[str, Any]]
    audience: list[str] | None  # None: everyone


def audience(user_id: str, contacts: list[tuple[str, int]] | None = None) -> list[str] | None:
    """Who hears that ``user_id`` came or went: everyone (None) while all online users fit in
    a ``users`` list; beyond that its own tabs and its recent conversations, so that bringing
    N users online costs O(N), not N² events (docs/performance.md).

    ``contacts``: ``store.contacts(user_id, USERS_LIST_LIMIT)``, if already read.
    """
    limit = current_app.config["USERS_LIST_LIMIT"]
    if services().presence.count() <= limit:
        return None
    if contacts is None:
        return [user_id, *store.contact_ids(user_id, limit)]
    return [user_id, *(peer for peer, _ in contacts if peer != user_id)]


def accept(raw_auth: object) -> Accepted:
    """Resumes or creates the session of the connecting socket, joins its room, reads its
    users list and counts it in presence; raises ConnectionRefusedError otherwise."""
    config = current_app.config
    if services().limiter.take(
        f"connect:{request.remote_addr}", config["CONNECT_RATE"], config["CONNECT_BURST"]
    ):
        raise ConnectionRefusedError("rate limited")
    auth = Auth.parse(raw_auth)
    me: store.Identity | None = None
    committed = opened = False
    try:
        tokens = (auth.sessionID, session.get("sessionID"))
        me, token = store.sign_in(
            tokens, auth.username, auth.password or None, config["SESSION_IDLE_DAYS"]
        )
        # A session it opened is undone by a refusal: by the rollback, or by _forget where
        # statements commit themselves.
        opened = token not in tokens
        committed = store.autocommit.active()
        dispatch.identify(request.environ, me)
        instrument.current.set(me)
        # Joined before history is read: a message stored from here on is relayed to this
        # socket, so none falls between the `users` snapshot and the live relay.
        join_room(me.user_id)
        presence = services().presence
        # On SQLite one transaction from the sign-in to here: the commit that ends the users
        # list's read also stores the new session (and name), any failure before undoes them.
        # The contacts are read once, for the users list and for the audience.
        limit = config["USERS_LIST_LIMIT"]
        contacts = store.contacts(me.user_id, limit)
        users = roster.users_list(me.user_id, presence, config["HISTORY_PAGE"], limit, contacts)
        committed = True
        # Last, so that a refusal above leaves no socket behind in presence.
        presence.connect(me.user_id, request.sid, me.session_id)
        return Accepted(me, token, users, audience(me.user_id, contacts))
    except store.StoreError as exc:
        raise ConnectionRefusedError(exc.code) from None
    except (SQLAlchemyError, RedisError):
        # Database or (with REDIS_URL) presence down: a clear refusal rather than a hang.
        db.session.rollback()
        where = "redis" if isinstance(sys.exc_info()[1], RedisError) else "db"
        log.exception("storage failed", extra=logs.fields("exception", None, where))
        if committed and opened:
            _forget(me)
        raise ConnectionRefusedError("unavailable") from None


def _forget(me: store.Identity) -> None:
    # A name created by a refused handshake would stay taken, unclaimable without a password;
    # a session it opened would stay live though no client holds its sessionID.
    try:
        store.forget_new_user(me)
    except SQLAlchemyError:
        db.session.rollback()
        log.exception(
            "refused user not forgotten", extra=logs.fields("exception", me.user_id, "db")
        )
