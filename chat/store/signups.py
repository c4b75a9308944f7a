"""New users of a burst created together: their names and sessions in one transaction.

A burst of new people (1,000 arriving at once) each inserted a user and a session and
committed on their own. ``create`` submits the new user to the app's group commit
(``chat.groupcommit``: a lone sign-in is stored at once, after one yield; those submitted
meanwhile are stored by the next batch, at most ``GROUP_COMMIT_SIZE``). A batch is one
statement for the users (``ON CONFLICT (name_key) DO NOTHING``, in arrival order, so of two
people choosing one free name in one batch the first gets it, the other is told the name is
taken) and one for their sessions, then a commit; on PostgreSQL both in one CTE run in
autocommit: one round trip. A batch refused by an integrity rule is stored user by user,
so only the bad one fails; any other database error reaches only that batch's members.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple
from weakref import WeakKeyDictionary

from flask import Flask, current_app
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError

from chat import groupcommit
from chat.extensions import db
from chat.groupcommit import GroupCommit
from chat.models import User
from chat.store import autocommit
from chat.store.domain import UsernameTaken


class NewUser(NamedTuple):
    """A user to create and the session it signs in with."""

    user_id: str
    username: str
    name_key: str
    password_hash: str | None
    token_hash: str
    now: datetime


# Per new user: its session's id, or why it has none (its name taken, a database error).
Outcome = int | UsernameTaken | SQLAlchemyError

_GROUPS: WeakKeyDictionary[Flask, GroupCommit[NewUser, Outcome]] = WeakKeyDictionary()


def create(new: NewUser) -> int:
    """Creates ``new`` and its session, committed with the sign-ins that arrived with it;
    its session's id. Raises UsernameTaken (nothing written) when its name is taken.

    The caller's session must hold no uncommitted work: it is used, and committed, when
    this call leads the batch (on SQLite the only connection is needed by the batch).
    """
    app = current_app._get_current_object()
    size = int(app.config["GROUP_COMMIT_SIZE"])
    outcome = groupcommit.of_app(_GROUPS, app, create_batch, size).submit(new)
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def group_of(app: Flask) -> GroupCommit[NewUser, Outcome] | None:
    """The app's sign-in group commit, once a user was created (tests count its batches)."""
    return _GROUPS.get(app)


def create_batch(batch: Sequence[NewUser]) -> list[Outcome]:
    """Stores ``batch`` and commits; per new user its session's id, or UsernameTaken."""
    try:
        return _store(batch)
    except IntegrityError:  # not a taken name (skipped): an id or token hash met twice
        db.session.rollback()
    out: list[Outcome] = []
    for new in batch:
        try:
            out += _store([new])
        except SQLAlchemyError as exc:  # this user's own outcome
            db.session.rollback()
            out.append(exc)
    return out


def _store(batch: Sequence[NewUser]) -> list[int | UsernameTaken]:
    conn = autocommit.connection()
    dialect = conn.dialect
    # A DateTime as SQLAlchemy would send it (a string on SQLite).
    stamp = User.__table__.c.created_at.type.bind_processor(dialect) or (lambda value: value)
    params: dict[str, object] = {}
    for i, new in enumerate(batch):
        params.update({f"i{i}": new.user_id, f"n{i}": new.username, f"k{i}": new.name_key})
        params.update({f"p{i}": new.password_hash, f"t{i}": new.token_hash})
        params[f"c{i}"] = stamp(new.now)
    if dialect.name == "postgresql":
        rows = _pg_execute(conn, _pg_batch(len(batch)), params)
    else:
        created = {row[0] for row in conn.exec_driver_sql(_sqlite_users(len(batch)), params)}
        keep = [i for i, new in enumerate(batch) if new.user_id in created]
        rows = conn.exec_driver_sql(_sqlite_sessions(keep), params).all() if keep else []
    db.session.commit()
    sessions = {user_id: session_id for session_id, user_id in rows}
    return [sessions.get(new.user_id) or _taken() for new in batch]


def _taken() -> UsernameTaken:
    return UsernameTaken("this username is already in use")


def _pg_execute(conn, sql: str, params: dict[str, object]) -> list:
    """The batch's statement; once more on a new connection if the pooled one was dead
    (it failed before anything was stored: chat.store.batch)."""
    try:
        return conn.exec_driver_sql(sql, params).all()
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
    db.session.rollback()
    return autocommit.connection().exec_driver_sql(sql, params).all()


@functools.lru_cache(maxsize=128)
def _sqlite_users(n: int) -> str:
    rows = ", ".join(f"({i}, :i{i}, :n{i}, :k{i}, :p{i}, :c{i})" for i in range(n))
    # In arrival order: of two rows with one name_key, the first is inserted.
    return f"""
INSERT INTO users (id, username, name_key, password_hash, read_receipts, created_at)
SELECT column2, column3, column4, column5, 1, column6 FROM (VALUES {rows})
WHERE true ORDER BY column1
ON CONFLICT (name_key) DO NOTHING
RETURNING id
"""


def _sqlite_sessions(keep: list[int]) -> str:
    rows = ", ".join(f"(:i{i}, :t{i}, :c{i}, :c{i})" for i in keep)
    return f"""
INSERT INTO sessions (user_id, token_hash, created_at, last_used_at) VALUES {rows}
RETURNING id, user_id
"""


@functools.lru_cache(maxsize=128)
def _pg_batch(n: int) -> str:
    rows = ", ".join(
        f"({i}, %(i{i})s::varchar, %(n{i})s::varchar, %(k{i})s::varchar, %(p{i})s::varchar,"
        f" %(t{i})s::varchar, %(c{i})s::timestamp)"
        for i in range(n)
    )
    # The users in arrival order (of two with one name_key the first is inserted), then the
    # sessions of those inserted: one atomic statement.
    return f"""
WITH v (ord, id, username, name_key, password_hash, token_hash, created_at) AS (VALUES {rows}),
u AS (
  INSERT INTO users (id, username, name_key, password_hash, read_receipts, created_at)
  SELECT id, username, name_key, password_hash, true, created_at FROM v ORDER BY ord
  ON CONFLICT (name_key) DO NOTHING
  RETURNING id
)
INSERT INTO sessions (user_id, token_hash, created_at, last_used_at)
SELECT v.id, v.token_hash, v.created_at, v.created_at FROM v JOIN u ON u.id = v.id
RETURNING id, user_id
"""
