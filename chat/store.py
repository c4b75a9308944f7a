"""Queries and commits. Called by events, views and CLI; never touches ``request``."""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from chat.extensions import db
from chat.models import Message, ReadState, Session, User, utcnow

USERNAME_RE = re.compile(r"[\w.\-]{3,32}")
# Writing last_used_at on every connect would turn reads into writes; a minute is precise enough.
_TOUCH_EVERY = timedelta(minutes=1)


class StoreError(Exception):
    """A refusal the caller turns into an error code; ``code`` is from PROTOCOL.md B6."""

    code = "invalid_payload"

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class InvalidUsername(StoreError):
    code = "invalid username"


class UsernameTaken(StoreError):
    code = "username taken"


class UnknownRecipient(StoreError):
    code = "unknown_recipient"


@dataclass(frozen=True)
class Identity:
    """Who a socket or a page request acts as."""

    user_id: str
    username: str
    session_id: int
    # Created by the login that made this identity; not part of who it is.
    new_user: bool = field(default=False, compare=False)


def normalize_username(raw: object) -> tuple[str, str]:
    """Called on login; returns (display name, case-insensitive key) or raises InvalidUsername."""
    if not isinstance(raw, str):
        raise InvalidUsername("username must be a string")
    name = unicodedata.normalize("NFKC", raw).strip()
    if not USERNAME_RE.fullmatch(name):
        raise InvalidUsername("3 to 32 letters, digits, '_', '.' or '-'")
    return name, name.casefold()


def hash_token(token: str) -> str:
    """Sessions are looked up by this digest so a database leak reveals no sessionID."""
    return hashlib.sha256(token.encode()).hexdigest()


def _new_session(user: User) -> tuple[Session, str]:
    token = secrets.token_urlsafe(32)  # 256 bits
    row = Session(token_hash=hash_token(token), user_id=user.id)
    db.session.add(row)
    return row, token


def login(raw_name: object, password: str | None = None) -> tuple[Identity, str]:
    """Called by the handshake and the login form; returns the identity and a new sessionID.

    A new name creates a user (protected by ``password`` when one is given); an existing
    name is only granted with its password.
    """
    name, key = normalize_username(raw_name)
    user = db.session.scalar(select(User).where(User.name_key == key))
    created = user is None
    if user is None:
        user = User(
            id=secrets.token_hex(8),
            username=name,
            name_key=key,
            password_hash=generate_password_hash(password) if password else None,
        )
        db.session.add(user)
        try:
            db.session.flush()
        except IntegrityError:
            db.session.rollback()
            raise UsernameTaken("this username is already in use") from None
    elif not (
        password and user.password_hash and check_password_hash(user.password_hash, password)
    ):
        raise UsernameTaken("this username is already in use")
    row, token = _new_session(user)
    db.session.commit()
    return Identity(user.id, user.username, row.id, new_user=created), token


def _password_ok(user: User, password: str | None) -> bool:
    return bool(
        password and user.password_hash and check_password_hash(user.password_hash, password)
    )


def resume(token: object, idle_days: int) -> Identity | None:
    """Called by the handshake and pages; the identity of a live sessionID, else None."""
    if not isinstance(token, str) or not token or len(token) > 128:
        return None
    row = db.session.scalar(select(Session).where(Session.token_hash == hash_token(token)))
    if row is None:
        return None
    now = utcnow()
    if row.last_used_at < now - timedelta(days=idle_days):
        db.session.delete(row)
        db.session.commit()
        return None
    user = db.session.get(User, row.user_id)
    if user is None:
        return None
    if row.last_used_at < now - _TOUCH_EVERY:
        row.last_used_at = now
        db.session.commit()
    return Identity(user.id, user.username, row.id)


def forget_new_user(me: Identity) -> None:
    """Called when a handshake that created ``me`` fails; frees the name it had just taken."""
    db.session.execute(delete(Session).where(Session.id == me.session_id))
    if me.new_user:
        db.session.execute(delete(User).where(User.id == me.user_id))
    db.session.commit()


def revoke(session_id: int) -> None:
    """Called on logout; the session can no longer be resumed."""
    db.session.execute(delete(Session).where(Session.id == session_id))
    db.session.commit()


def set_password(user_id: str, password: str) -> None:
    """Called by the settings form; protects the username with ``password``."""
    db.session.execute(
        update(User)
        .where(User.id == user_id)
        .values(password_hash=generate_password_hash(password))
    )
    db.session.commit()


def user_exists(user_id: str, active: bool = False) -> bool:
    """Called before storing or reading; True when ``user_id`` names a user (not removed)."""
    user = db.session.get(User, user_id)
    return user is not None and not (active and user.deleted_at is not None)


def username(user_id: str) -> str | None:
    """Called when presence announces a user again; their name, or None if they are gone."""
    return db.session.scalar(select(User.username).where(User.id == user_id))


def save_message(
    sender_id: str, recipient_id: str, content: str, client_id: str | None
) -> tuple[Message, bool]:
    """Called by the send handler; commits the message and returns (message, created).

    A ``client_id`` already used by the sender returns the stored message and ``False``.
    """
    if client_id is not None:
        existing = _by_client_id(sender_id, client_id)
        if existing is not None:
            return existing, False
    if not user_exists(recipient_id, active=True):
        raise UnknownRecipient("no user has this userID")
    lo, hi = sorted((sender_id, recipient_id))
    msg = Message(
        sender_id=sender_id,
        recipient_id=recipient_id,
        user_lo=lo,
        user_hi=hi,
        content=content,
        client_id=client_id,
    )
    db.session.add(msg)
    try:
        db.session.commit()
    except IntegrityError:
        # A concurrent retry with the same clientId won the race.
        db.session.rollback()
        existing = _by_client_id(sender_id, client_id) if client_id else None
        if existing is None:
            raise
        return existing, False
    return msg, True


def _by_client_id(sender_id: str, client_id: str) -> Message | None:
    return db.session.scalar(
        select(Message).where(Message.sender_id == sender_id, Message.client_id == client_id)
    )


def _conversation(a: str, b: str):
    lo, hi = sorted((a, b))
    return and_(Message.user_lo == lo, Message.user_hi == hi)


def history(
    user_id: str, peer_id: str, limit: int, before: int | None = None
) -> tuple[list[Message], bool]:
    """Called for ``users`` and ``fetch messages``; newest ``limit`` messages before ``before``.

    Returns them oldest first, and whether older ones exist.
    """
    query = select(Message).where(_conversation(user_id, peer_id))
    if before is not None:
        query = query.where(Message.id < before)
    rows = list(db.session.scalars(query.order_by(Message.id.desc()).limit(limit + 1)))
    has_more = len(rows) > limit
    return rows[:limit][::-1], has_more


def unread_counts(user_id: str) -> dict[str, int]:
    """Called for ``users``; per sender, messages to ``user_id`` after its read mark."""
    mark = (
        select(ReadState.up_to)
        .where(ReadState.user_id == user_id, ReadState.peer_id == Message.sender_id)
        .scalar_subquery()
    )
    rows = db.session.execute(
        select(Message.sender_id, func.count())
        .where(Message.recipient_id == user_id, Message.id > func.coalesce(mark, 0))
        .group_by(Message.sender_id)
    )
    return {sender: count for sender, count in rows}


def list_users(user_id: str, limit: int) -> list[User]:
    """Called for ``users``; the user itself first, then others by name, at most ``limit``."""
    me = db.session.get(User, user_id)
    # A removed user is listed only to those who talked with it, so its messages stay.
    talked = exists().where(
        or_(
            and_(Message.user_lo == user_id, Message.user_hi == User.id),
            and_(Message.user_lo == User.id, Message.user_hi == user_id),
        )
    )
    others = db.session.scalars(
        select(User)
        .where(User.id != user_id, or_(User.deleted_at.is_(None), talked))
        .order_by(User.name_key)
        .limit(limit - 1)
    )
    return ([me] if me else []) + list(others)


def users_payload(
    user_id: str, online: Iterable[str], page: int, limit: int
) -> list[dict[str, object]]:
    """Called on connect; the ``users`` event body (PROTOCOL.md A2.4 and B3)."""
    online = set(online)
    unread = unread_counts(user_id)
    receipts = read_marks_shared_with(user_id)
    out = []
    for user in list_users(user_id, limit):
        messages, has_more = history(user_id, user.id, page)
        connected = user.id in online
        out.append(
            {
                "userID": user.id,
                "username": user.username,
                "connected": connected,
                "messages": [to_wire(m) for m in messages],
                "hasMore": has_more,
                "unread": unread.get(user.id, 0) if user.id != user_id else 0,
                "lastSeen": None if connected else iso(user.last_seen),
                "readUpTo": receipts.get(user.id),
            }
        )
    return out


def read_marks_shared_with(user_id: str) -> dict[str, int]:
    """Called for ``users``; per peer sharing receipts, how far it read ``user_id``'s messages."""
    rows = db.session.execute(
        select(ReadState.user_id, ReadState.up_to)
        .join(User, User.id == ReadState.user_id)
        .where(ReadState.peer_id == user_id, User.read_receipts.is_(True))
    )
    return {peer: up_to for peer, up_to in rows}


def conversation_entry(
    user_id: str, peer_id: str, online: Iterable[str], page: int
) -> dict[str, object] | None:
    """Called by the chat page for a peer outside the capped list; one ``users`` entry or None."""
    peer = db.session.get(User, peer_id)
    if peer is None:
        return None
    messages, has_more = history(user_id, peer_id, page)
    connected = peer_id in set(online)
    return {
        "userID": peer.id,
        "username": peer.username,
        "connected": connected,
        "messages": [to_wire(m) for m in messages],
        "hasMore": has_more,
        "unread": unread_counts(user_id).get(peer_id, 0) if peer_id != user_id else 0,
        "lastSeen": None if connected else iso(peer.last_seen),
        "readUpTo": read_marks_shared_with(user_id).get(peer_id),
    }


def search_users(query: str, limit: int = 20) -> list[User]:
    """Called by the user search; users whose name starts with ``query``, case-insensitively."""
    key = unicodedata.normalize("NFKC", query).strip().casefold()
    if not key:
        return []
    return list(
        db.session.scalars(
            select(User)
            .where(User.name_key.startswith(key, autoescape=True))
            .order_by(User.name_key)
            .limit(limit)
        )
    )


def get_user(user_id: str) -> User | None:
    """Called by the user lookup; the user named by ``user_id``, or None."""
    return db.session.get(User, user_id)


def set_read_receipts(user_id: str, enabled: bool) -> None:
    """Called by the settings form; whether the user's reads are shown to their peers."""
    db.session.execute(update(User).where(User.id == user_id).values(read_receipts=enabled))
    db.session.commit()


def mark_read(user_id: str, peer_id: str, up_to: int) -> int | None:
    """Called by the ``read`` handler; moves the read mark forward, returns it or None."""
    if not user_exists(peer_id):
        raise UnknownRecipient("no user has this userID")
    # Clamp to the newest message the peer actually sent, so a client cannot read the future.
    newest = db.session.scalar(
        select(func.max(Message.id)).where(
            Message.sender_id == peer_id, Message.recipient_id == user_id, Message.id <= up_to
        )
    )
    if newest is None:
        return None
    state = db.session.get(ReadState, (user_id, peer_id))
    if state is None:
        db.session.add(ReadState(user_id=user_id, peer_id=peer_id, up_to=newest))
    elif state.up_to < newest:
        state.up_to = newest
    else:
        db.session.rollback()
        return None
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return None
    return newest


def read_receipts_enabled(user_id: str) -> bool:
    """Called by the ``read`` handler; whether the user shares receipts with peers."""
    user = db.session.get(User, user_id)
    return bool(user and user.read_receipts)


def touch_last_seen(user_id: str) -> datetime:
    """Called when a user's last socket closes; records and returns the time."""
    now = utcnow()
    db.session.execute(update(User).where(User.id == user_id).values(last_seen=now))
    db.session.commit()
    return now


def iso(value: datetime | None) -> str | None:
    """ISO 8601 UTC with a ``Z``, as PROTOCOL.md B1 asks."""
    if value is None:
        return None
    return value.isoformat(timespec="milliseconds") + "Z"


def to_wire(msg: Message) -> dict[str, object]:
    """A message as relayed and returned: PROTOCOL.md A3 plus B1."""
    out: dict[str, object] = {
        "id": msg.id,
        "content": msg.content,
        "from": msg.sender_id,
        "to": msg.recipient_id,
        "createdAt": iso(msg.created_at),
    }
    if msg.client_id is not None:
        out["clientId"] = msg.client_id
    return out
