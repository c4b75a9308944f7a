"""Database models: users, their login sessions, messages, read state and blocks."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from chat.extensions import db


def utcnow() -> datetime:
    """Column default: the current time, UTC, naive (stored as UTC everywhere)."""
    return datetime.now(UTC).replace(tzinfo=None)


class User(db.Model):
    """A chat user; ``id`` is the public userID, ``name_key`` makes names unique.

    A removed user stays as a tombstone so its messages keep their sender: ``deleted_at``
    set, username "deleted user", and a ``name_key`` no username can produce (``~`` is not
    allowed in names), which frees the name.
    """

    __tablename__ = "users"
    # Name-prefix search (GET /api/users) on PostgreSQL: LIKE 'abc%' can use a btree only
    # with pattern ops whatever the database's collation. SQLite searches by range on the
    # unique index instead; there this is a plain second index on name_key.
    __table_args__ = (
        Index(
            "ix_users_name_prefix",
            "name_key",
            postgresql_ops={"name_key": "varchar_pattern_ops"},
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    name_key: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(256), default=None)
    read_receipts: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime | None] = mapped_column(default=None)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)


class Session(db.Model):
    """A login session; only the SHA-256 of the secret sessionID is stored."""

    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime] = mapped_column(default=utcnow)


class Message(db.Model):
    """A private message; ``user_lo``/``user_hi`` name the conversation for one index scan.

    A deleted message stays as a tombstone: ``deleted_at`` set, ``content`` erased. The row
    keeps its id and clientId, so that deleting it again is told apart from deleting
    someone else's message, and a late retry of its send cannot store it anew.
    """

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("sender_id", "client_id", name="uq_messages_sender_client"),
        Index("ix_messages_conversation", "user_lo", "user_hi", "id"),
        Index("ix_messages_inbox", "recipient_id", "sender_id", "id"),
        Index("ix_messages_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    sender_id: Mapped[str] = mapped_column(String(32), ForeignKey("users.id"))
    recipient_id: Mapped[str] = mapped_column(String(32), ForeignKey("users.id"))
    user_lo: Mapped[str] = mapped_column(String(32))
    user_hi: Mapped[str] = mapped_column(String(32))
    content: Mapped[str] = mapped_column(Text)
    client_id: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(default=None)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)


class ReadState(db.Model):
    """``user_id``'s side of its conversation with ``peer_id``.

    ``up_to``: read up to this message id (only moves forward). ``last_id``: the newest
    message of the conversation. ``unread``: messages from the peer after ``up_to``. Kept
    by every send and read, so that a connection lists its recent conversations with their
    unread counts from this table alone, whatever the number of stored messages.
    """

    __tablename__ = "read_state"
    __table_args__ = (Index("ix_read_state_recent", "user_id", "last_id"),)

    user_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    peer_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    up_to: Mapped[int] = mapped_column(default=0)
    last_id: Mapped[int] = mapped_column(default=0, server_default="0")
    unread: Mapped[int] = mapped_column(default=0, server_default="0")


class Block(db.Model):
    """``blocker_id`` blocked ``blocked_id``; the reverse index answers "who blocked me"."""

    __tablename__ = "blocks"
    __table_args__ = (Index("ix_blocks_blocked", "blocked_id", "blocker_id"),)

    blocker_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    blocked_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
