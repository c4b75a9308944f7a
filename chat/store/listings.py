"""Users lists: who a user sees listed, with each conversation's newest page and read mark.

The ``users`` event (PROTOCOL.md A2.4, B3) of a connect, a page load and a lookup. A list
is read in a fixed few statements whatever the numbers (docs/performance.md); a user the
handshake just created is listed from one read shared with those arriving with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import NamedTuple

from sqlalchemy import JSON, String, and_, any_, bindparam, case, cast, func, select, union_all
from sqlalchemy.dialects.postgresql import ARRAY

from chat import attachments
from chat.extensions import db
from chat.models import ReadState, User
from chat.store import autocommit
from chat.store.blocks import Relations, relations
from chat.store.conversations import history, newest_pages, unread_with

# Selected from the tables, not the mapped classes: plain Core execution, without the ORM's
# per-statement compile state.
_READ_STATE = ReadState.__table__
_USERS = User.__table__

# No user has the empty id: no read mark is shared with it, no block names it.
_NOBODY = ""


class Listed(NamedTuple):
    """One user of a users list and the newest page of the conversation with them."""

    user_id: str
    username: str
    last_seen: datetime | None
    messages: Sequence  # oldest first; Message objects or rows with the same columns
    has_more: bool
    unread: int
    read_up_to: int | None  # how far they read the lister's messages, receipts shared
    blocked: bool  # the lister blocked this user
    hidden: bool  # this user blocked the lister: its presence is not shown to the lister
    attachments: Mapping[int, list[dict]]  # wire entries by message id (shared by a list)

    @classmethod
    def untouched(cls, user_id: str, username: str, last_seen: datetime | None) -> Listed:
        """An entry no conversation, read mark or block touches (a newcomer's list)."""
        return cls(user_id, username, last_seen, (), False, 0, None, False, False, _NO_FILES)


_NO_FILES: Mapping[int, list[dict]] = {}


def listing(
    user_id: str,
    chosen: list[str],
    unread: dict[str, int],
    page: int,
    limit: int,
    blocks: Relations | None = None,
) -> list[Listed]:
    """The users list of ``user_id``: the ``chosen`` users, then others by name up to
    ``limit``; self first, then by name. Ends its read transaction.

    ``unread`` holds the unread counts of the conversations whose pages are listed.
    Removed users appear only when chosen (as contacts of those who talked with them).
    ``blocks``: ``blocks_of(user_id)``, if already read.
    """
    rows = _listed_users(user_id, chosen, limit)
    listed = {row[0] for row in rows}
    pages = newest_pages(user_id, [peer for peer in unread if peer in listed], page)
    # One query each for the whole list, whatever the number of conversations.
    mine, theirs = relations(user_id, listed - {user_id}, blocks)
    files = attachments.for_messages(m.id for msgs, _ in pages.values() for m in msgs)
    # End the read transaction before the caller emits: a connection (SQLite has one) is
    # never held across network writes.
    db.session.commit()
    rows.sort(key=lambda row: (row[0] != user_id, row[2]))
    no_page = ((), False)
    return [
        Listed(
            uid,
            name,
            last_seen,
            *pages.get(uid, no_page),
            unread.get(uid, 0) if uid != user_id else 0,
            up_to,
            uid in mine,
            uid in theirs,
            files,
        )
        for uid, name, _key, last_seen, up_to in rows
    ]


def newcomer_listing(chosen: list[str], limit: int) -> list[Listed]:
    """Other users as listed to users the handshake just created (no conversation, read
    mark or block can name them yet): the ``chosen`` users, then others by name up to
    ``limit``; by name. Ends its read transaction (on PostgreSQL one that commits itself)."""
    autocommit.connection()
    rows = _listed_users(_NOBODY, chosen, limit)
    db.session.commit()
    rows.sort(key=lambda row: row[2])
    return [Listed.untouched(uid, name, last_seen) for uid, name, _key, last_seen, _ in rows]


def _listed_users(user_id: str, chosen: list[str], limit: int) -> list:
    """(id, username, name_key, last seen, read mark shared with ``user_id``) of the
    ``chosen`` users, then of others by name up to ``limit``: one statement."""
    chosen_only, with_others, more = _listed_statements(db.engine.dialect.name)
    params = {"user_id": user_id, "chosen": chosen, "room": limit - len(chosen)}
    statement = with_others if len(chosen) < limit else chosen_only
    rows = db.session.execute(statement, params).all()
    wanted = set(chosen)
    found = sum(1 for row in rows if row[0] in wanted)
    if found < len(chosen) and len(rows) - found == limit - len(chosen):
        # A chosen id named no user (rare): the room it left goes to more users by name.
        params.update(listed=[row[0] for row in rows], room=len(chosen) - found)
        rows += db.session.execute(more, params).all()
    return rows


@cache
def _listed_statements(dialect: str) -> tuple:
    """``_listed_users``' statements, built once per dialect: the chosen users; the chosen
    then others by name (up to ``room``); more others by name, none of ``listed``."""
    u = _USERS.c
    me = bindparam("user_id")
    theirs = _READ_STATE.alias("theirs")  # how far each listed user read ``user_id``
    shared = case((and_(u.read_receipts.is_(True), u.id != me), theirs.c.up_to))
    base = select(u.id, u.username, u.name_key, u.last_seen, shared.label("up_to")).select_from(
        _USERS.outerjoin(theirs, and_(theirs.c.user_id == u.id, theirs.c.peer_id == me))
    )
    # Removed users appear only when chosen (as contacts of those who talked with them).
    others = base.where(~_among(dialect, u.id, "chosen"), u.deleted_at.is_(None))
    others = others.order_by(u.name_key).limit(bindparam("room"))
    chosen = base.where(_among(dialect, u.id, "chosen"))
    more = others.where(~_among(dialect, u.id, "listed"))
    with_others = union_all(select(chosen.subquery()), select(others.subquery()))
    return chosen, with_others, more


def _among(dialect: str, column, name: str):
    """``column`` among the values of the list bound to ``name`` at execution, as one
    parameter whatever their number, so that the statement's text never changes: on
    PostgreSQL ``= ANY`` of an array (with 100 expanded ids, ~30% of a handshake's samples
    were in it, parsing a new text each time); on SQLite ``IN`` the rows of ``json_each``
    of a JSON array (expanding 100 ids was ~30% of the listed users' statement)."""
    if dialect == "postgresql":
        return column == any_(cast(bindparam(name, type_=ARRAY(String)), ARRAY(String)))
    values = func.json_each(bindparam(name, type_=JSON)).table_valued("value")
    return column.in_(select(values.c.value))


def conversation(user_id: str, peer_id: str, page: int) -> Listed | None:
    """One users-list entry for ``peer_id`` (outside the capped list), or None if no user."""
    peer = db.session.get(User, peer_id)
    if peer is None:
        return None
    messages, has_more = history(user_id, peer_id, page)
    mine, theirs = relations(user_id, [peer_id] if peer_id != user_id else [])
    return Listed(
        peer.id,
        peer.username,
        peer.last_seen,
        messages,
        has_more,
        unread_with(user_id, peer_id) if peer_id != user_id else 0,
        read_marks_shared_with(user_id, [peer_id]).get(peer_id),
        peer_id in mine,
        peer_id in theirs,
        attachments.for_messages(m.id for m in messages),
    )


def read_marks_shared_with(user_id: str, peers: Iterable[str]) -> dict[str, int]:
    """Per peer sharing receipts, how far it read ``user_id``'s messages.

    Looked up by primary key (peer, user): bounded by ``peers``, not by the table.
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
