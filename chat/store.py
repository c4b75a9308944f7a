"""Queries and commits. Called by events, views and CLI; never touches ``request``."""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import NamedTuple, Protocol

from sqlalchemy import (
    and_,
    case,
    delete,
    func,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
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


class Saved(NamedTuple):
    """What ``save_message`` stored: the message, whether it is new (not a retry), and
    whether it opened the conversation (the recipient had none with the sender)."""

    message: Message
    created: bool
    opened: bool


# The hot path's two statements, as SQL text run by exec_driver_sql on the session's
# connection: the session's commit still commits them (and the error handling and
# disconnect detection of SQLAlchemy still apply), without building, caching and processing
# a Core statement per call (measured: ~300 -> ~230 µs of CPU per stored message, SQLite).
# A clientId already used by this sender, or a removed recipient (whose row stays for its
# peers' history), inserts nothing and returns no row; an unknown recipient fails the
# foreign key: no query before the insert is needed.
_INSERT_MESSAGE = """
INSERT INTO messages (sender_id, recipient_id, user_lo, user_hi, content, client_id, created_at)
SELECT :sender_id, :recipient_id, :user_lo, :user_hi, :content, :client_id, :created_at
WHERE NOT EXISTS (SELECT 1 FROM users WHERE id = :recipient_key AND deleted_at IS NOT NULL)
ON CONFLICT (sender_id, client_id) DO NOTHING
RETURNING id
"""
# Both sides of the conversation: the newest id, one more unread on the recipient's side.
_TOUCH_SIDES = """
UPDATE read_state
SET last_id = CASE WHEN last_id < :id THEN :id ELSE last_id END,
    unread = unread + CASE WHEN user_id = :b THEN :bump ELSE 0 END
WHERE (user_id = :a AND peer_id = :b) OR (user_id = :b AND peer_id = :a)
RETURNING user_id
"""


@functools.cache
def _statements(dialect: str) -> SimpleNamespace:
    """The hot path's statements in the dialect's parameter style, built once."""
    if dialect == "postgresql":
        insert = pg_insert

        def driver(sql: str) -> str:
            return re.sub(r":(\w+)", r"%(\1)s", sql)
    else:
        insert = sqlite_insert

        def driver(sql: str) -> str:
            return sql

    states = ReadState.__table__
    open_side = insert(states)
    open_sides = open_side.on_conflict_do_update(
        index_elements=["user_id", "peer_id"],
        set_={
            "last_id": case(
                (states.c.last_id < open_side.excluded.last_id, open_side.excluded.last_id),
                else_=states.c.last_id,
            ),
            "unread": states.c.unread + open_side.excluded.unread,
        },
    )
    return SimpleNamespace(
        insert_message=driver(_INSERT_MESSAGE),
        touch=driver(_TOUCH_SIDES),
        open_sides=open_sides,
    )


def save_message(sender_id: str, recipient_id: str, content: str, client_id: str | None) -> Saved:
    """Called by the send handler; stores the message and both sides' conversation rows in
    one short transaction, commits, and returns what was stored.

    A ``client_id`` already used by the sender returns the stored message, not created.
    """
    conn = db.session.connection()
    dialect = conn.dialect
    sql = _statements(dialect.name)
    lo, hi = sorted((sender_id, recipient_id))
    now = utcnow()
    values = {
        "sender_id": sender_id,
        "recipient_id": recipient_id,
        "user_lo": lo,
        "user_hi": hi,
        "content": content,
        "client_id": client_id,
        "created_at": _datetime_param(dialect)(now),
    }
    try:
        # Its own name: PostgreSQL types one parameter once, here text and varchar.
        params = {**values, "recipient_key": recipient_id}
        new_id = conn.exec_driver_sql(sql.insert_message, params).scalar()
    except IntegrityError:
        db.session.rollback()
        if not user_exists(recipient_id):
            raise UnknownRecipient("no user has this userID") from None
        raise
    if new_id is None:  # a retry of a used clientId, or a removed recipient
        db.session.rollback()
        existing = _by_client_id(sender_id, client_id) if client_id else None
        if existing is not None:
            return Saved(existing, False, False)
        if not user_exists(recipient_id, active=True):
            raise UnknownRecipient("this user was removed")
        raise IntegrityError("INSERT", values, Exception("message vanished"))
    bump = 0 if sender_id == recipient_id else 1  # a note to self is never unread
    params = {"a": sender_id, "b": recipient_id, "id": new_id, "bump": bump}
    touched = set(conn.exec_driver_sql(sql.touch, params).scalars())
    sides = {sender_id: (recipient_id, 0), recipient_id: (sender_id, bump)}
    missing = [
        {"user_id": user, "peer_id": peer, "up_to": 0, "last_id": new_id, "unread": unread}
        for user, (peer, unread) in sorted(sides.items())
        if user not in touched
    ]
    if missing:  # a first message: the rows of the new conversation (sorted: no deadlock)
        db.session.execute(sql.open_sides, missing)
    db.session.commit()
    values["created_at"] = now
    return Saved(Message(id=new_id, **values), True, bump == 1 and recipient_id not in touched)


@functools.lru_cache(maxsize=4)  # one dialect per engine; tests make many
def _datetime_param(dialect) -> Callable[[datetime], object]:
    """How a DateTime goes to the driver as SQLAlchemy would send it (a string on SQLite)."""
    process = Message.__table__.c.created_at.type.bind_processor(dialect)
    return process or (lambda value: value)


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
    """Called for ``fetch messages``; newest ``limit`` messages before ``before``.

    Returns them oldest first, and whether older ones exist.
    """
    query = select(Message).where(_conversation(user_id, peer_id))
    if before is not None:
        query = query.where(Message.id < before)
    rows = list(db.session.scalars(query.order_by(Message.id.desc()).limit(limit + 1)))
    has_more = len(rows) > limit
    return rows[:limit][::-1], has_more


# The connect path selects from the tables, not the mapped classes: plain Core execution,
# without the ORM's per-statement compile state (measured ~8% of a connect for contacts()).
_MESSAGES = Message.__table__
_READ_STATE = ReadState.__table__
_USERS = User.__table__

# SQLite allows 500 terms in a compound SELECT; stay well below it.
_UNION_CHUNK = 100


def newest_pages(user_id: str, peer_ids: list[str], page: int) -> dict[str, tuple[list, bool]]:
    """Called for ``users``; per peer, the newest ``page`` messages (oldest first) and whether
    older ones exist, in one round trip per 100 peers: one index range scan each."""
    m = _MESSAGES.c
    cols = (m.id, m.sender_id, m.recipient_id, m.content, m.client_id, m.created_at)
    found: dict[tuple[str, str], list] = {}
    for i in range(0, len(peer_ids), _UNION_CHUNK):
        parts = []
        for peer in peer_ids[i : i + _UNION_CHUNK]:
            lo, hi = sorted((user_id, peer))
            parts.append(
                select(*cols, m.user_lo, m.user_hi)
                .where(m.user_lo == lo, m.user_hi == hi)
                .order_by(m.id.desc())
                .limit(page + 1)
                .subquery()
            )
        query = union_all(*(select(part) for part in parts))
        for row in db.session.execute(query).all():
            found.setdefault((row.user_lo, row.user_hi), []).append(row)
    out = {}
    for peer in peer_ids:
        rows = sorted(found.get(tuple(sorted((user_id, peer))), ()), key=lambda r: -r.id)
        out[peer] = (rows[:page][::-1], len(rows) > page)
    return out


def contacts(user_id: str, limit: int) -> list[tuple[str, int]]:
    """The peers of ``user_id``'s most recent conversations, newest first, with unread counts;
    one range scan of ix_read_state_recent."""
    r = _READ_STATE.c
    rows = db.session.execute(
        select(r.peer_id, r.unread)
        .where(r.user_id == user_id, r.last_id > 0)
        .order_by(r.last_id.desc())
        .limit(limit)
    )
    return [(peer, unread) for peer, unread in rows]


def contact_ids(user_id: str, limit: int) -> list[str]:
    """Called when presence is announced to contacts only; ends its read transaction, as the
    caller emits next."""
    peers = [peer for peer, _ in contacts(user_id, limit) if peer != user_id]
    db.session.commit()
    return peers


class Presence(Protocol):
    """What ``users_payload`` asks of chat.presence."""

    def online(self, user_ids: Iterable[str] | None = None) -> set[str]: ...
    def some(self, limit: int) -> set[str]: ...


def users_payload(
    user_id: str, presence: Presence, page: int, limit: int
) -> list[dict[str, object]]:
    """Called on connect and by the chat page; the ``users`` event body (PROTOCOL.md A2.4, B3).

    At most ``limit`` users, chosen in this order: the user itself, its most recent
    conversations, other online users, then other users by name; listed self first, then
    by name. Bounded work whatever the number of users and stored messages.
    """
    recent = contacts(user_id, limit - 1)
    unread = dict(recent)
    chosen = [user_id] + [peer for peer, _ in recent if peer != user_id]
    room = limit - len(chosen)
    if room > 0:
        # Ask for more than needed: the sample may hold this user and its contacts.
        taken = set(chosen)
        chosen += [u for u in presence.some(room + len(taken)) if u not in taken][:room]
    u = _USERS.c
    columns = (u.id, u.username, u.name_key, u.last_seen)
    rows = db.session.execute(select(*columns).where(u.id.in_(chosen))).all()
    room = limit - len(rows)
    if room > 0:
        rows += db.session.execute(
            # Removed users appear only as contacts of those who talked with them.
            select(*columns)
            .where(u.id.not_in(chosen), u.deleted_at.is_(None))
            .order_by(u.name_key)
            .limit(room)
        ).all()
    listed = {uid for uid, _, _, _ in rows}
    receipts = read_marks_shared_with(user_id, listed - {user_id})
    pages = newest_pages(user_id, [peer for peer in unread if peer in listed], page)
    # End the read transaction before the caller emits: a connection (SQLite has one) is
    # never held across network writes.
    db.session.commit()
    online = presence.online(listed) | {user_id}  # a user listing is online, if not yet counted
    rows.sort(key=lambda row: (row[0] != user_id, row[2]))
    no_page = ((), False)
    out = []
    for uid, username, _key, last_seen in rows:
        messages, has_more = pages.get(uid, no_page)
        connected = uid in online
        out.append(
            {
                "userID": uid,
                "username": username,
                "connected": connected,
                "messages": [to_wire(m) for m in messages],
                "hasMore": has_more,
                "unread": unread.get(uid, 0) if uid != user_id else 0,
                "lastSeen": None if connected else iso(last_seen),
                "readUpTo": receipts.get(uid),
            }
        )
    return out


def read_marks_shared_with(user_id: str, peers: Iterable[str]) -> dict[str, int]:
    """Called for ``users``; per listed peer sharing receipts, how far it read ``user_id``.

    Looked up by primary key (peer, user): bounded by the list, not by the table.
    """
    rows = db.session.execute(
        select(ReadState.user_id, ReadState.up_to)
        .join(User, User.id == ReadState.user_id)
        .where(
            ReadState.user_id.in_(list(peers)),
            ReadState.peer_id == user_id,
            User.read_receipts.is_(True),
        )
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
        "unread": unread_with(user_id, peer_id) if peer_id != user_id else 0,
        "lastSeen": None if connected else iso(peer.last_seen),
        "readUpTo": read_marks_shared_with(user_id, [peer_id]).get(peer_id),
    }


def unread_with(user_id: str, peer_id: str) -> int:
    """Called for one conversation outside the list; its unread count from the conversation row."""
    r = _READ_STATE.c
    value = db.session.scalar(select(r.unread).where(r.user_id == user_id, r.peer_id == peer_id))
    return int(value or 0)


def get_user(user_id: str) -> User | None:
    """Called by the user lookup; the user named by ``user_id``, or None."""
    return db.session.get(User, user_id)


def set_read_receipts(user_id: str, enabled: bool) -> None:
    """Called by the settings form; whether the user's reads are shown to their peers."""
    db.session.execute(update(User).where(User.id == user_id).values(read_receipts=enabled))
    db.session.commit()


def search_users(prefix: str, limit: int) -> list[tuple[str, str, datetime | None]]:
    """Called by GET /api/users; (userID, username, last seen) of users whose name starts
    with ``prefix`` (case-insensitive, as names are unique), by name, at most ``limit``."""
    key = unicodedata.normalize("NFKC", prefix).strip().casefold()
    if not key or len(key) > 32:
        return []
    # Removed users keep their rows for their peers' history but cannot be found.
    query = select(User.id, User.username, User.last_seen).where(User.deleted_at.is_(None))
    if key:
        if db.engine.dialect.name == "postgresql":
            # Uses ix_users_name_prefix (pattern ops) whatever the collation.
            escaped = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(User.name_key.like(escaped + "%", escape="\\"))
        else:
            # SQLite compares by code point here: a range scan of the unique index.
            query = query.where(User.name_key >= key, User.name_key < key + "\U0010ffff")
    rows = db.session.execute(query.order_by(User.name_key).limit(limit))
    return [(uid, name, seen) for uid, name, seen in rows]


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
    states = ReadState.__table__
    # Move the mark first: that locks the row, so the count below cannot miss a message
    # whose send is bumping this row at the same moment (it waits, then adds its one).
    moved = db.session.execute(
        update(states)
        .where(states.c.user_id == user_id, states.c.peer_id == peer_id, states.c.up_to < newest)
        .values(up_to=newest)
    ).rowcount
    if not moved:
        if db.session.get(ReadState, (user_id, peer_id)) is not None:
            db.session.rollback()
            return None
        db.session.add(ReadState(user_id=user_id, peer_id=peer_id, up_to=newest))
        db.session.flush()
    # What is still unread: messages after the mark, so at most the unread ones.
    unread = db.session.scalar(
        select(func.count())
        .select_from(Message)
        .where(Message.recipient_id == user_id, Message.sender_id == peer_id, Message.id > newest)
    )
    db.session.execute(
        update(states)
        .where(states.c.user_id == user_id, states.c.peer_id == peer_id)
        .values(unread=unread)
    )
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return None
    return newest


def rebuild_conversations() -> None:
    """Recomputes every conversation row from the messages (seeding, repairs); no commit."""
    for statement in _REBUILD:
        db.session.execute(text(statement))


# The same statements as the migration that introduced the columns.
_REBUILD = (
    """
    INSERT INTO read_state (user_id, peer_id, up_to, last_id, unread)
    SELECT p.u, p.v, 0, 0, 0 FROM (
        SELECT sender_id AS u, recipient_id AS v FROM messages
        UNION
        SELECT recipient_id AS u, sender_id AS v FROM messages
    ) AS p
    WHERE NOT EXISTS (
        SELECT 1 FROM read_state AS r WHERE r.user_id = p.u AND r.peer_id = p.v
    )
    """,
    """
    UPDATE read_state SET
        last_id = COALESCE((
            SELECT MAX(m.id) FROM messages AS m
            WHERE (m.user_lo = read_state.user_id AND m.user_hi = read_state.peer_id)
               OR (m.user_lo = read_state.peer_id AND m.user_hi = read_state.user_id)
        ), 0),
        unread = CASE WHEN read_state.user_id = read_state.peer_id THEN 0 ELSE (
            SELECT COUNT(*) FROM messages AS m
            WHERE m.recipient_id = read_state.user_id AND m.sender_id = read_state.peer_id
              AND m.id > read_state.up_to
        ) END
    """,
)


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
