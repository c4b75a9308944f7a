"""Many messages in one transaction: the write path of a group commit (chat.groupcommit).

Each message keeps the promises of ``save_message``: a ``clientId`` already used by its
sender (earlier, or earlier in the same batch) returns the stored message; ids follow the
order of the batch; both sides' conversation rows are kept. On PostgreSQL the batch is one
statement (a CTE inserting the messages and upserting the conversation rows) run in
autocommit: one round trip. On SQLite it is two statements (three when a conversation opens).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple
from weakref import WeakKeyDictionary

from flask import Flask, current_app
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError

from chat import groupcommit
from chat.extensions import db
from chat.groupcommit import GroupCommit
from chat.models import Message, utcnow
from chat.store import autocommit
from chat.store.domain import StoreError
from chat.store.messages import Saved, _datetime_param, _statements, save_message


class Draft(NamedTuple):
    """A message to store: who sends it, to whom, what, under which clientId."""

    sender_id: str
    recipient_id: str
    content: str
    client_id: str | None


# Per draft: what save_message would return, or the error it would raise.
Outcome = Saved | StoreError | SQLAlchemyError


# One group commit per app: each app has its own database (tests make many apps).
_GROUPS: WeakKeyDictionary[Flask, GroupCommit[Draft, Outcome]] = WeakKeyDictionary()


def save_grouped(sender_id: str, recipient_id: str, content: str, client_id: str | None) -> Saved:
    """What ``save_message`` does, stored and committed in one transaction with the
    messages that arrived with it; returns once that transaction has committed."""
    app = current_app._get_current_object()
    group = groupcommit.of_app(_GROUPS, app, save_batch, int(app.config["GROUP_COMMIT_SIZE"]))
    outcome = group.submit(Draft(sender_id, recipient_id, content, client_id))
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def group_of(app: Flask) -> GroupCommit[Draft, Outcome] | None:
    """The app's group commit, once a message was sent (tests count its batches)."""
    return _GROUPS.get(app)


def save_batch(drafts: Sequence[Draft]) -> list[Outcome]:
    """Stores ``drafts`` in one transaction, ids in their order, commits, and returns per
    draft what ``save_message`` would have returned or raised.

    A batch refused by an integrity rule (an unknown recipient) is stored draft by draft,
    so only the bad one fails; any other database error is raised, the batch rolled back.
    """
    first: dict[tuple[str, str | None], int] = {}  # (sender, clientId) -> its first draft
    unique: list[int] = []
    for i, draft in enumerate(drafts):
        key = (draft.sender_id, draft.client_id)
        if draft.client_id is None or key not in first:
            first[key] = i
            unique.append(i)
    try:
        stored = _store([drafts[i] for i in unique])
    except IntegrityError:
        db.session.rollback()
        stored = [None] * len(unique)
    outcomes: list[Outcome | None] = [None] * len(drafts)
    for i, saved in zip(unique, stored, strict=True):
        # Not inserted (a clientId used before, a removed or unknown recipient, a block):
        # alone, the single-message path says which, and stores it if it can.
        outcomes[i] = saved if saved is not None else _alone(drafts[i])
    for i, draft in enumerate(drafts):
        if outcomes[i] is None:  # a repeat of a clientId used earlier in this batch
            earlier = outcomes[first[(draft.sender_id, draft.client_id)]]
            is_saved = isinstance(earlier, Saved)
            outcomes[i] = Saved(earlier.message, False, False) if is_saved else earlier
    return outcomes


def _alone(draft: Draft) -> Outcome:
    try:
        saved = save_message(*draft)
    except (StoreError, SQLAlchemyError) as exc:  # this draft's own outcome
        db.session.rollback()
        return exc
    if not saved.created:  # loaded in this session: a later commit would expire it
        db.session.expunge(saved.message)
    return saved


def _store(drafts: list[Draft]) -> list[Saved | None]:
    """Inserts and commits; per draft its Saved, or None when the insert skipped it."""
    conn = autocommit.connection()
    dialect = conn.dialect
    now = utcnow()
    params: dict[str, object] = {"t": _datetime_param(dialect)(now)}
    for i, d in enumerate(drafts):
        lo, hi = sorted((d.sender_id, d.recipient_id))
        params.update({f"s{i}": d.sender_id, f"r{i}": d.recipient_id, f"l{i}": lo, f"h{i}": hi})
        params.update({f"c{i}": d.content, f"k{i}": d.client_id})
    if dialect.name == "postgresql":
        rows = _pg_execute(conn, _pg_batch(len(drafts)), params)
        inserted = [row for row in rows if row[0] is not None]
        opened = {(row[1], row[2]) for row in rows if row[0] is None and row[4]}
    else:
        inserted = conn.exec_driver_sql(_sqlite_insert(len(drafts)), params).all()
        opened = _sqlite_sides(conn, inserted)
    db.session.commit()

    # Ids grow in the order of the batch; a skipped draft has no row: match them in turn.
    inserted.sort(key=lambda row: row[0])
    out: list[Saved | None] = []
    seen: set[tuple[str, str]] = set()  # conversations met earlier in this batch
    j = 0
    for d in drafts:
        row = inserted[j] if j < len(inserted) else None
        if row is None or tuple(row[1:4]) != (d.sender_id, d.recipient_id, d.client_id):
            out.append(None)
            continue
        j += 1
        pair = (min(d.sender_id, d.recipient_id), max(d.sender_id, d.recipient_id))
        # Only the batch's first message of a conversation can open it for the recipient.
        opens = pair not in seen and d.sender_id != d.recipient_id
        seen.add(pair)
        message = Message(
            id=row[0],
            sender_id=d.sender_id,
            recipient_id=d.recipient_id,
            user_lo=pair[0],
            user_hi=pair[1],
            content=d.content,
            client_id=d.client_id,
            created_at=now,
        )
        opened_here = opens and (d.recipient_id, d.sender_id) in opened
        out.append(Saved(message, True, opened_here, []))  # no attachments in a batch
    return out


def _pg_execute(conn, sql: str, params: dict[str, object]) -> list:
    """Runs the batch's statement; once more on a new connection if the pooled one was dead.

    The pool does not ping on checkout (a round trip per batch): a connection the server
    closed (a restart, an idle timeout) fails here, before any commit, so nothing of the
    batch was stored and running it again stores it once.
    """
    try:
        return conn.exec_driver_sql(sql, params).all()
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
    db.session.rollback()
    return autocommit.connection().exec_driver_sql(sql, params).all()


def _sqlite_sides(conn, inserted: list) -> set[tuple[str, str]]:
    """Keeps both sides' rows of every conversation of ``inserted``; returns the sides created."""
    sides: dict[tuple[str, str], list[int]] = {}  # (user, peer) -> [last id, unread]
    for new_id, sender, recipient, _client in inserted:
        mine = sides.setdefault((sender, recipient), [0, 0])
        mine[0] = max(mine[0], new_id)
        if sender != recipient:  # a note to self is never unread
            theirs = sides.setdefault((recipient, sender), [0, 0])
            theirs[0] = max(theirs[0], new_id)
            theirs[1] += 1
    if not sides:
        return set()
    keys = sorted(sides)
    params: dict[str, object] = {}
    for i, (user, peer) in enumerate(keys):
        last_id, unread = sides[(user, peer)]
        params.update({f"u{i}": user, f"p{i}": peer, f"i{i}": last_id, f"n{i}": unread})
    touched = {tuple(row) for row in conn.exec_driver_sql(_sqlite_touch(len(keys)), params)}
    missing = [key for key in keys if key not in touched]
    if missing:  # new conversations: their rows, sorted (no deadlock)
        rows = [
            {
                "user_id": u,
                "peer_id": p,
                "up_to": 0,
                "last_id": sides[(u, p)][0],
                "unread": sides[(u, p)][1],
            }
            for u, p in missing
        ]
        db.session.execute(_statements("sqlite").open_sides, rows)
    return set(missing)


@functools.lru_cache(maxsize=128)
def _sqlite_insert(n: int) -> str:
    rows = ", ".join(f"({i}, :s{i}, :r{i}, :l{i}, :h{i}, :c{i}, :k{i})" for i in range(n))
    # A removed recipient (whose row stays for its peers' history) or a block between the
    # two (PROTOCOL.md B8) inserts nothing; an unknown recipient fails the foreign key.
    # SQLite names VALUES' columns column1, column2...
    return f"""
INSERT INTO messages (sender_id, recipient_id, user_lo, user_hi, content, client_id, created_at)
SELECT column2, column3, column4, column5, column6, column7, :t FROM (VALUES {rows}) AS v
WHERE NOT EXISTS (SELECT 1 FROM users WHERE id = v.column3 AND deleted_at IS NOT NULL)
AND NOT EXISTS (
    SELECT 1 FROM blocks
    WHERE (blocker_id = v.column2 AND blocked_id = v.column3)
       OR (blocker_id = v.column3 AND blocked_id = v.column2)
)
ORDER BY column1
ON CONFLICT (sender_id, client_id) DO NOTHING
RETURNING id, sender_id, recipient_id, client_id
"""


@functools.lru_cache(maxsize=128)
def _sqlite_touch(n: int) -> str:
    rows = ", ".join(f"(:u{i}, :p{i}, :i{i}, :n{i})" for i in range(n))
    return f"""
UPDATE read_state
SET last_id = max(read_state.last_id, v.column3), unread = read_state.unread + v.column4
FROM (VALUES {rows}) AS v
WHERE read_state.user_id = v.column1 AND read_state.peer_id = v.column2
RETURNING user_id, peer_id
"""


@functools.lru_cache(maxsize=128)
def _pg_batch(n: int) -> str:
    rows = ", ".join(
        f"({i}, %(s{i})s::varchar, %(r{i})s::varchar, %(l{i})s::varchar, %(h{i})s::varchar,"
        f" %(c{i})s::text, %(k{i})s::varchar)"
        for i in range(n)
    )
    # One statement: the messages, then both sides of each conversation, upserted in key
    # order (no deadlock between batches); xmax = 0 marks a side this statement created.
    return f"""
WITH v (ord, sender_id, recipient_id, user_lo, user_hi, content, client_id) AS (VALUES {rows}),
ins AS (
  INSERT INTO messages (sender_id, recipient_id, user_lo, user_hi, content, client_id, created_at)
  SELECT sender_id, recipient_id, user_lo, user_hi, content, client_id, %(t)s::timestamp FROM v
  WHERE NOT EXISTS (
    SELECT 1 FROM users WHERE users.id = v.recipient_id AND users.deleted_at IS NOT NULL)
  AND NOT EXISTS (
    SELECT 1 FROM blocks
    WHERE (blocker_id = v.sender_id AND blocked_id = v.recipient_id)
       OR (blocker_id = v.recipient_id AND blocked_id = v.sender_id))
  ORDER BY ord
  ON CONFLICT (sender_id, client_id) DO NOTHING
  RETURNING id, sender_id, recipient_id, client_id
),
sides AS (
  SELECT user_id, peer_id, max(id) AS last_id, sum(bump)::int AS unread FROM (
    SELECT sender_id AS user_id, recipient_id AS peer_id, id, 0 AS bump FROM ins
    UNION ALL
    SELECT recipient_id, sender_id, id, 1 FROM ins WHERE recipient_id <> sender_id
  ) AS s GROUP BY user_id, peer_id
),
up AS (
  INSERT INTO read_state (user_id, peer_id, up_to, last_id, unread)
  SELECT user_id, peer_id, 0, last_id, unread FROM sides ORDER BY user_id, peer_id
  ON CONFLICT (user_id, peer_id) DO UPDATE
  SET last_id = GREATEST(read_state.last_id, excluded.last_id),
      unread = read_state.unread + excluded.unread
  RETURNING user_id, peer_id, xmax = 0 AS created
)
SELECT id, sender_id, recipient_id, client_id, NULL::boolean FROM ins
UNION ALL
SELECT NULL, user_id, peer_id, NULL, created FROM up
"""
