"""Admin queries and commits behind the CLI: users, sessions, export and retention.

Like ``store``, these take ids, return plain values and never touch a request; the CLI
(``chat/cli.py``) adds the output and the disconnection of sockets.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, exists, func, or_, select

from chat import attachments, store
from chat.extensions import db
from chat.models import Message, ReadState, Session, User, utcnow
from chat.store import blocks

DELETED_NAME = "deleted user"
# '~' is not allowed in usernames, so this key can never collide with a real one.
DELETED_KEY = "~deleted~{}"


class AdminError(Exception):
    """A refusal the CLI prints as its one-line error."""


@dataclass(frozen=True)
class UserInfo:
    """One row of ``list-users``."""

    user_id: str
    username: str
    deleted: bool
    protected: bool
    sessions: int
    created_at: datetime
    last_seen: datetime | None


def find_user(ref: str) -> User:
    """The user named by a userID or a username (case-insensitive); refuses ambiguity."""
    by_id = db.session.get(User, ref)
    by_name = db.session.scalar(select(User).where(User.name_key == ref.strip().casefold()))
    if by_id is not None and by_name is not None and by_id.id != by_name.id:
        # A username may look like someone else's userID; never guess which was meant.
        raise AdminError(f"{ref!r} is both a userID and another user's name; use the userID")
    user = by_id or by_name
    if user is None:
        raise AdminError(f"no user with userID or username {ref!r}")
    return user


def list_users() -> list[UserInfo]:
    """Every user with its live session count, removed users last."""
    sessions = select(Session.user_id, func.count().label("n")).group_by(Session.user_id).subquery()
    rows = db.session.execute(
        select(User, func.coalesce(sessions.c.n, 0))
        .outerjoin(sessions, sessions.c.user_id == User.id)
        .order_by(User.deleted_at.is_not(None), User.name_key)
    )
    return [
        UserInfo(
            user.id,
            user.username,
            user.deleted_at is not None,
            user.password_hash is not None,
            count,
            user.created_at,
            user.last_seen,
        )
        for user, count in rows
    ]


def revoke_sessions(user_id: str) -> int:
    """Deletes every session of the user (no sessionID of it resumes); returns how many."""
    result = db.session.execute(delete(Session).where(Session.user_id == user_id))
    db.session.commit()
    return result.rowcount


def remove_user(user_id: str) -> int:
    """Turns the user into a tombstone: sessions, read marks, blocks and uploads gone,
    messages kept.

    Its messages stay in its peers' conversations under the name "deleted user"; the
    username is free again. Returns the number of sessions removed.
    """
    user = db.session.get(User, user_id)
    if user is None:
        raise AdminError(f"no user {user_id!r}")
    if user.deleted_at is not None:
        raise AdminError(f"user {user_id} was already removed")
    removed = db.session.execute(delete(Session).where(Session.user_id == user_id)).rowcount
    db.session.execute(delete(ReadState).where(ReadState.user_id == user_id))
    attachments.remove_for_user(user_id)
    blocks.remove_for_user(user_id)  # a tombstone's row stays: no cascade removes them
    user.username = DELETED_NAME
    user.name_key = DELETED_KEY.format(user.id)
    user.password_hash = None
    user.deleted_at = utcnow()
    db.session.commit()
    return removed


def conversation_peers(user_id: str) -> list[User]:
    """Everyone ``user_id`` has a conversation with (itself included), by name."""
    return list(
        db.session.scalars(
            select(User)
            .join(ReadState, ReadState.peer_id == User.id)
            .where(ReadState.user_id == user_id)
            .order_by(User.name_key, User.id)
        )
    )


def _conversation(a: str, b: str):
    lo, hi = sorted((a, b))
    return and_(Message.user_lo == lo, Message.user_hi == hi, Message.deleted_at.is_(None))


def conversation(a: str, b: str, batch: int = 1000) -> Iterator[Message]:
    """Every message between two users, oldest first, read ``batch`` rows at a time;
    deleted ones left out."""
    after = 0
    while True:
        rows = list(
            db.session.scalars(
                select(Message)
                .where(_conversation(a, b), Message.id > after)
                .order_by(Message.id)
                .limit(batch)
            )
        )
        yield from rows
        if len(rows) < batch:
            return
        after = rows[-1].id
        db.session.expunge_all()  # a long export must not keep every row in memory


def count_older(days: int) -> int:
    """How many messages ``purge_messages(days)`` would delete."""
    cutoff = utcnow() - timedelta(days=days)
    return db.session.scalar(select(func.count()).where(Message.created_at < cutoff)) or 0


def purge_messages(days: int, batch: int = 5000) -> tuple[int, int]:
    """Deletes messages older than ``days`` and their attachments in short transactions;
    returns (messages, users).

    The conversation rows of the purged conversations are recounted in the same
    transactions: nobody keeps an unread badge for, or a conversation of, deleted messages.
    Removed users left without any message are then deleted for good.
    """
    cutoff = utcnow() - timedelta(days=days)
    purged = 0
    while True:
        # Batches keep each transaction (and PostgreSQL's locks, SQLite's write lock) short
        # while the chat keeps writing.
        rows = db.session.execute(
            select(Message.id, Message.user_lo, Message.user_hi)
            .where(Message.created_at < cutoff)
            .order_by(Message.id)
            .limit(batch)
        ).all()
        if not rows:
            break
        ids = [row.id for row in rows]
        attachments.remove_for_messages(ids)
        db.session.execute(delete(Message).where(Message.id.in_(ids)))
        # Sorted: two purges (or a purge and sends) lock conversation rows in one order.
        store.recount_conversations(sorted({(row.user_lo, row.user_hi) for row in rows}))
        db.session.commit()
        purged += len(rows)
    return purged, _drop_empty_tombstones()


def _drop_empty_tombstones() -> int:
    has_messages = exists().where(
        or_(Message.sender_id == User.id, Message.recipient_id == User.id)
    )
    gone = list(
        db.session.scalars(select(User.id).where(User.deleted_at.is_not(None), ~has_messages))
    )
    if gone:
        db.session.execute(delete(ReadState).where(ReadState.peer_id.in_(gone)))
        db.session.execute(delete(User).where(User.id.in_(gone)))
    db.session.commit()
    return len(gone)
