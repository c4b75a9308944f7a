"""Users and their sessions: names, login, resume, revocation, settings, lookups."""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, insert, select, update
from werkzeug.security import check_password_hash, generate_password_hash

from chat.extensions import db
from chat.models import Session, User, utcnow
from chat.store import autocommit, signups
from chat.store.domain import Identity, InvalidUsername, StoreError, UsernameTaken

USERNAME_RE = re.compile(r"[\w.\-]{3,32}")
# Writing last_used_at on every connect would turn reads into writes; a minute is precise enough.
_TOUCH_EVERY = timedelta(minutes=1)
# The connect path runs in Core: tables, not mapped classes, so no ORM object is built.
_USERS = User.__table__
_SESSIONS = Session.__table__


def normalize_username(raw: object) -> tuple[str, str]:
    """(display name, case-insensitive key) of a requested name, or raises InvalidUsername."""
    if not isinstance(raw, str):
        raise InvalidUsername("username must be a string")
    name = unicodedata.normalize("NFKC", raw).strip()
    if not USERNAME_RE.fullmatch(name):
        raise InvalidUsername("3 to 32 letters, digits, '_', '.' or '-'")
    return name, name.casefold()


def hash_token(token: str) -> str:
    """Sessions are looked up by this digest so a database leak reveals no sessionID."""
    return hashlib.sha256(token.encode()).hexdigest()


def login(raw_name: object, password: str | None = None) -> tuple[Identity, str]:
    """The identity of a new or reclaimed name and a new sessionID, committed.

    A new name creates a user (protected by ``password`` when one is given); an existing
    name is only granted with its password.
    """
    me, token = _login(raw_name, password)
    db.session.commit()
    return me, token


def resume(token: object, idle_days: int) -> Identity | None:
    """The identity of a live sessionID, else None; an expired session is deleted."""
    me, wrote = _resume(token, idle_days)
    if wrote:
        db.session.commit()
    return me


def sign_in(
    tokens: Iterable[str | None],
    raw_name: object,
    password: str | None,
    idle_days: int,
    before_login: Callable[[bool], None] = lambda _named: None,
) -> tuple[Identity, str]:
    """The first live session among ``tokens``, else a login as ``raw_name``.

    When no session is live, ``before_login(named)`` (named: a name was given) runs first
    and may refuse by raising a StoreError. Raises InvalidUsername when no session is live
    and no name is given.
    A name it creates is committed with its session, in one batch with the sign-ins that
    arrived with it (chat.store.signups), and leaves the session holding no connection (a
    newcomer's reads wait for a batch of their own: chat.roster). The rest (a resume's
    touch, a reclaimed name's session) on PostgreSQL commits as it goes
    (chat.store.autocommit); on SQLite it is flushed, not committed: the caller's next
    commit keeps it, a rollback undoes it.
    """
    wrote = False
    for token in tokens:
        me, touched = _resume(token, idle_days)
        wrote |= touched
        if me is not None:
            return me, token
    try:
        before_login(raw_name is not None)
        if raw_name is None:
            raise InvalidUsername("no live session and no username")
        return _login(raw_name, password)
    except StoreError:
        if wrote:  # the expired sessions found on the way stay deleted
            db.session.commit()
        raise


def _login(raw_name: object, password: str | None) -> tuple[Identity, str]:
    name, key = normalize_username(raw_name)
    token = secrets.token_urlsafe(32)  # 256 bits
    now = utcnow()
    session_row = {"token_hash": hash_token(token), "created_at": now, "last_used_at": now}
    # With a password, the name is looked up first: hashing one for a name that exists
    # would cost a password hash's CPU for nothing.
    found = None
    if password:
        autocommit.connection()
        found = db.session.execute(_BY_NAME, {"key": key}).first()
    if found is None:  # raises UsernameTaken if taken (meanwhile, when looked up first)
        return _create(name, key, password, session_row), token
    if not (found[2] and check_password_hash(found[2], password)):
        raise UsernameTaken("this username is already in use")
    return Identity(found[0], found[1], _open(found[0], session_row)), token


def _create(name: str, key: str, password: str | None, session_row: dict) -> Identity:
    """A new user named ``name`` and its session, committed with the sign-ins that arrived
    with it (chat.store.signups); raises UsernameTaken (nothing written) if it is taken."""
    # Whatever this session read or wrote so far (a resume's expired sessions) is committed
    # first: the batch may run on this session, and on SQLite needs its one connection.
    # Most new names come with nothing: an empty commit still begins and ends a transaction.
    if db.session().in_transaction():
        db.session.commit()
    user_id = secrets.token_hex(8)
    new = signups.NewUser(
        user_id,
        name,
        key,
        generate_password_hash(password) if password else None,
        session_row["token_hash"],
        session_row["created_at"],
    )
    return Identity(user_id, name, signups.create(new), new_user=True)


def _open(user_id: str, session_row: dict) -> int:
    """Inserts a session of ``user_id``; its id."""
    return db.session.scalar(_OPEN, {"user_id": user_id, **session_row})


def _resume(token: object, idle_days: int) -> tuple[Identity | None, bool]:
    """The identity of a live session (or None) and whether anything awaits a commit."""
    if not isinstance(token, str) or not token or len(token) > 128:
        return None, False
    # The session's connection is taken only for a statement to run: a new name's sign-in
    # runs none here (its batch does), and checking one out and back in cost ~5% of it.
    autocommit.connection()
    row = db.session.execute(_BY_TOKEN, {"token_hash": hash_token(token)}).first()
    if row is None:
        return None, False
    session_id, last_used_at, user_id, display = row
    now = utcnow()
    if last_used_at < now - timedelta(days=idle_days):
        db.session.execute(_EXPIRE, {"session_id": session_id})
        return None, True
    touched = last_used_at < now - _TOUCH_EVERY
    if touched:
        db.session.execute(_TOUCH, {"session_id": session_id, "now": now})
    return Identity(user_id, display, session_id), touched


# The sign-in's statements, built once: a statement object reused hits the compiled cache
# without being built, keyed and its result columns adapted again on every connect.
_s, _u = _SESSIONS.c, _USERS.c
_BY_NAME = select(_u.id, _u.username, _u.password_hash).where(_u.name_key == bindparam("key"))
_BY_TOKEN = (
    select(_s.id, _s.last_used_at, _u.id, _u.username)
    .join_from(_SESSIONS, _USERS, _u.id == _s.user_id)
    .where(_s.token_hash == bindparam("token_hash"))
)
# (An UPDATE's parameters may not be named after a column: "id" is taken by its SET clause.)
_EXPIRE = delete(_SESSIONS).where(_s.id == bindparam("session_id"))
_TOUCH = (
    update(_SESSIONS).where(_s.id == bindparam("session_id")).values(last_used_at=bindparam("now"))
)
_OPEN = (
    insert(_SESSIONS)
    .values(
        user_id=bindparam("user_id"),
        token_hash=bindparam("token_hash"),
        created_at=bindparam("created_at"),
        last_used_at=bindparam("last_used_at"),
    )
    .returning(_s.id)
)


def forget_new_user(me: Identity) -> None:
    """Deletes ``me``'s session and, if its login created the user, the user: the name is free."""
    db.session.execute(delete(Session).where(Session.id == me.session_id))
    if me.new_user:
        db.session.execute(delete(User).where(User.id == me.user_id))
    db.session.commit()


def revoke(session_id: int) -> None:
    """The session can no longer be resumed."""
    db.session.execute(delete(Session).where(Session.id == session_id))
    db.session.commit()


def set_password(user_id: str, password: str) -> None:
    """Protects the username with ``password``: a later login by that name needs it."""
    db.session.execute(
        update(User)
        .where(User.id == user_id)
        .values(password_hash=generate_password_hash(password))
    )
    db.session.commit()


def check_password(user_id: str, password: str) -> bool:
    """True when ``password`` is the user's password (False when it has none)."""
    stored = db.session.scalar(select(User.password_hash).where(User.id == user_id))
    return bool(stored) and check_password_hash(stored, password)


def user_exists(user_id: str, active: bool = False) -> bool:
    """True when ``user_id`` names a user (with ``active``, one not removed)."""
    user = db.session.get(User, user_id)
    return user is not None and not (active and user.deleted_at is not None)


def user_status(user_id: str) -> str | None:
    """'active', 'removed' (a tombstone) or None (no such user); ends the read transaction."""
    deleted_at = db.session.execute(select(User.deleted_at).where(User.id == user_id)).one_or_none()
    # Ended (nothing was written: a rollback, not a commit): a handler's write after this
    # check must not run in a stale SQLite snapshot.
    db.session.rollback()
    if deleted_at is None:
        return None
    return "active" if deleted_at[0] is None else "removed"


def usernames(user_ids: Iterable[str]) -> dict[str, str]:
    """The names of those of ``user_ids`` that exist, by id: one statement."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    u = User.__table__.c
    return dict(db.session.execute(select(u.id, u.username).where(u.id.in_(ids))).all())


def get_user(user_id: str) -> User | None:
    """The user named by ``user_id``, or None."""
    return db.session.get(User, user_id)


def set_read_receipts(user_id: str, enabled: bool) -> None:
    """Stores whether the user's reads are shown to their peers."""
    db.session.execute(update(User).where(User.id == user_id).values(read_receipts=enabled))
    db.session.commit()


def read_receipts_enabled(user_id: str) -> bool:
    """Whether the user shares read receipts with their peers."""
    user = db.session.get(User, user_id)
    return bool(user and user.read_receipts)


def search_users(prefix: str, limit: int) -> list[tuple[str, str, datetime | None]]:
    """(userID, username, last seen) of users whose name starts with ``prefix``
    (case-insensitive, as names are unique), by name, at most ``limit``."""
    key = unicodedata.normalize("NFKC", prefix).strip().casefold()
    if not key or len(key) > 32:
        return []
    # Removed users keep their rows for their peers' history but cannot be found.
    query = select(User.id, User.username, User.last_seen).where(User.deleted_at.is_(None))
    if db.engine.dialect.name == "postgresql":
        # Uses ix_users_name_prefix (pattern ops) whatever the collation.
        escaped = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(User.name_key.like(escaped + "%", escape="\\"))
    else:
        # SQLite compares by code point here: a range scan of the unique index.
        query = query.where(User.name_key >= key, User.name_key < key + "\U0010ffff")
    rows = db.session.execute(query.order_by(User.name_key).limit(limit))
    return [(uid, name, seen) for uid, name, seen in rows]


def touch_last_seen(user_ids: str | Iterable[str]) -> datetime:
    """Records now as the last seen time of one user or of several (one statement), commits,
    and returns it."""
    ids = [user_ids] if isinstance(user_ids, str) else sorted(set(user_ids))
    now = utcnow()
    if ids:
        db.session.execute(update(User).where(User.id.in_(ids)).values(last_seen=now))
    db.session.commit()
    return now
