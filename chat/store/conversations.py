"""The conversation read path and read state: history pages, contacts, unread counts, marks.

Deleted messages (tombstones, chat.store.edits) are left out of every page and count.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

from sqlalchemy import (
    and_,
    bindparam,
    case,
    func,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.exc import IntegrityError

from chat.extensions import db
from chat.models import Message, ReadState

# The connect path selects from the tables, not the mapped classes: plain Core execution,
# without the ORM's per-statement compile state (measured ~8% of a connect for contacts()).
_MESSAGES = Message.__table__
_READ_STATE = ReadState.__table__

# SQLite allows 500 terms in a compound SELECT; stay well below it.
_UNION_CHUNK = 100


def _conversation(a: str, b: str):
    lo, hi = sorted((a, b))
    return and_(Message.user_lo == lo, Message.user_hi == hi, Message.deleted_at.is_(None))


def history(
    user_id: str, peer_id: str, limit: int, before: int | None = None
) -> tuple[list[Message], bool]:
    """The newest ``limit`` messages of a conversation before ``before``, oldest first, and
    whether older ones exist."""
    query = select(Message).where(_conversation(user_id, peer_id))
    if before is not None:
        query = query.where(Message.id < before)
    rows = list(db.session.scalars(query.order_by(Message.id.desc()).limit(limit + 1)))
    has_more = len(rows) > limit
    return rows[:limit][::-1], has_more


def newest_pages(user_id: str, peer_ids: list[str], page: int) -> dict[str, tuple[list, bool]]:
    """Per peer, the newest ``page`` messages (oldest first) and whether older ones exist,
    in one round trip per 100 peers: one index range scan each."""
    found: dict[tuple[str, str], list] = {}
    for i in range(0, len(peer_ids), _UNION_CHUNK):
        chunk = peer_ids[i : i + _UNION_CHUNK]
        params: dict[str, object] = {"rows": page + 1}
        for n, peer in enumerate(chunk):
            params[f"lo{n}"], params[f"hi{n}"] = sorted((user_id, peer))
        for row in db.session.execute(_pages_statement(len(chunk)), params).all():
            found.setdefault((row.user_lo, row.user_hi), []).append(row)
    out = {}
    for peer in peer_ids:
        rows = sorted(found.get(tuple(sorted((user_id, peer))), ()), key=lambda r: -r.id)
        out[peer] = (rows[:page][::-1], len(rows) > page)
    return out


@cache
def _pages_statement(n: int):
    """``newest_pages``' statement for ``n`` conversations (pairs ``lo<i>``, ``hi<i>``, up
    to ``rows`` each), built once per ``n`` (at most ``_UNION_CHUNK`` of them)."""
    m = _MESSAGES.c
    cols = (m.id, m.sender_id, m.recipient_id, m.content, m.client_id, m.created_at, m.edited_at)
    parts = [
        select(*cols, m.user_lo, m.user_hi)
        .where(
            m.user_lo == bindparam(f"lo{i}"),
            m.user_hi == bindparam(f"hi{i}"),
            m.deleted_at.is_(None),
        )
        .order_by(m.id.desc())
        .limit(bindparam("rows"))
        .subquery()
        for i in range(n)
    ]
    return union_all(*(select(part) for part in parts))


def contacts(user_id: str, limit: int) -> list[tuple[str, int]]:
    """The peers of ``user_id``'s most recent conversations, newest first, with unread counts;
    one range scan of ix_read_state_recent."""
    rows = db.session.execute(_CONTACTS, {"user_id": user_id, "limit": limit})
    return [(peer, unread) for peer, unread in rows]


_r = _READ_STATE.c
# Built once: a statement object reused hits the compiled cache without building, keying
# or adapting its result columns again (~20% of a connect when built per call).
_CONTACTS = (
    select(_r.peer_id, _r.unread)
    .where(_r.user_id == bindparam("user_id"), _r.last_id > 0)
    .order_by(_r.last_id.desc())
    .limit(bindparam("limit"))
)


def contact_ids(user_ids: Iterable[str], limit: int) -> dict[str, list[str]]:
    """Per user of ``user_ids``, the peers of its ``limit`` most recent conversations but
    itself, newest first: one round trip per 100 users, one index range scan each."""
    ids = sorted(set(user_ids))
    out: dict[str, list[tuple[int, str]]] = {uid: [] for uid in ids}
    for i in range(0, len(ids), _UNION_CHUNK):
        chunk = ids[i : i + _UNION_CHUNK]
        params: dict[str, object] = {f"u{n}": uid for n, uid in enumerate(chunk)}
        params["limit"] = limit
        for uid, peer, last_id in db.session.execute(_contacts_statement(len(chunk)), params):
            if peer != uid:
                out[uid].append((last_id, peer))
    return {uid: [peer for _, peer in sorted(rows, reverse=True)] for uid, rows in out.items()}


@cache
def _contacts_statement(n: int):
    """``contact_ids``' statement for ``n`` users (``u<i>``, up to ``limit`` peers each), built
    once per ``n``: built per call, it was built and keyed again each time and compiled
    again for each new size (~5% of the worker's samples while 2,000 came and went)."""
    r = _READ_STATE.c
    parts = [
        select(r.user_id, r.peer_id, r.last_id)
        .where(r.user_id == bindparam(f"u{i}"), r.last_id > 0)
        .order_by(r.last_id.desc())
        .limit(bindparam("limit"))
        .subquery()
        for i in range(n)
    ]
    return union_all(*(select(part) for part in parts))


def unread_with(user_id: str, peer_id: str) -> int:
    """The unread count of one conversation, from its conversation row."""
    r = _READ_STATE.c
    value = db.session.scalar(select(r.unread).where(r.user_id == user_id, r.peer_id == peer_id))
    return int(value or 0)


def mark_read(user_id: str, peer_id: str, up_to: int) -> int | None:
    """Moves the read mark forward (never past the peer's newest message), commits, and
    returns it, or None when it did not move (an unknown peer has no message to mark)."""
    # Clamp to the newest message the peer actually sent, so a client cannot read the future.
    newest = db.session.scalar(
        select(func.max(Message.id)).where(
            Message.sender_id == peer_id, Message.recipient_id == user_id, Message.id <= up_to
        )
    )
    if newest is None:
        return None
    states = _READ_STATE
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
        .where(
            Message.recipient_id == user_id,
            Message.sender_id == peer_id,
            Message.id > newest,
            Message.deleted_at.is_(None),
        )
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


def recount_conversations(pairs: Iterable[tuple[str, str]]) -> None:
    """Recomputes both sides' conversation rows (newest id, unread count) of each pair of
    users from the messages left, after some were deleted; no commit."""
    m = _MESSAGES.c
    r = _READ_STATE.c
    for a, b in pairs:
        lo, hi = sorted((a, b))
        sides = (r.user_id == a) & (r.peer_id == b) | (r.user_id == b) & (r.peer_id == a)
        # Lock both rows first: a send bumping them now waits, and the counts below (a new
        # statement, so a new snapshot on PostgreSQL) include any message it committed.
        db.session.execute(update(_READ_STATE).where(sides).values(unread=r.unread))
        left = m.deleted_at.is_(None)  # a deleted message's tombstone counts for nothing
        newest = select(func.max(m.id)).where(m.user_lo == lo, m.user_hi == hi, left)
        unread = select(func.count()).where(
            m.recipient_id == r.user_id, m.sender_id == r.peer_id, m.id > r.up_to, left
        )
        db.session.execute(
            update(_READ_STATE)
            .where(sides)
            .values(
                last_id=func.coalesce(newest.scalar_subquery(), 0),
                # A note to self is never unread.
                unread=case((r.user_id == r.peer_id, 0), else_=unread.scalar_subquery()),
            )
        )


def rebuild_conversations() -> None:
    """Recomputes every conversation row from the messages (seeding, repairs); no commit."""
    for statement in _REBUILD:
        db.session.execute(text(statement))


# The statements of the migration that introduced the columns, tombstones left out.
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
            WHERE ((m.user_lo = read_state.user_id AND m.user_hi = read_state.peer_id)
               OR (m.user_lo = read_state.peer_id AND m.user_hi = read_state.user_id))
              AND m.deleted_at IS NULL
        ), 0),
        unread = CASE WHEN read_state.user_id = read_state.peer_id THEN 0 ELSE (
            SELECT COUNT(*) FROM messages AS m
            WHERE m.recipient_id = read_state.user_id AND m.sender_id = read_state.peer_id
              AND m.id > read_state.up_to AND m.deleted_at IS NULL
        ) END
    """,
)
