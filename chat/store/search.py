"""Full-text search of a user's own messages (PROTOCOL.md B9): queries only, no request.

The index holds each word of a message once per participant, qualified by that participant's
userID ("<userID>:<word>"). A search for user U looks up the range of terms starting with
"U:<word>" only, so its cost follows U's own messages and never the number of messages
in other people's conversations (a plain word index would walk every user's matches of a
word and drop the others' afterwards). The database keeps the index itself, so that code
that inserts, edits or erases messages needs to know nothing of search:

- SQLite: a contentless FTS5 table ``message_search`` (rowid = message id) kept by triggers
  on ``messages``. The triggers call ``chat_search_terms``, a SQL function this module
  registers on every SQLite connection, so the words are split by ``words`` below for both
  the messages and the query.
- PostgreSQL: a GIN index on the expression ``chat_search_vector(sender_id, recipient_id,
  content)``, an immutable SQL function that splits and case-folds in the database (ICU
  rules), and ``chat_search_query`` does the same to the query's words.

Both are created by migration 5b7e2c9d41a3; changing the word rules needs a migration that
rebuilds the index (the SQLite triggers remove a message's terms by recomputing them).
"""

from __future__ import annotations

import re
import sqlite3
import unicodedata

from sqlalchemy import event, select, text
from sqlalchemy.engine import Engine

from chat.extensions import db
from chat.models import Message

# A word: a run of letters and digits (str.isalnum), after case folding and NFC.
_WORD = re.compile(r"[^\W_]+")
# Words are indexed and searched cut to this many characters: as long as q may be, so a
# query word still matches exactly the words it begins (PostgreSQL caps a lexeme at 2 KB).
MAX_WORD = 200
TERMS_FUNCTION = "chat_search_terms"
# Alembic leaves these alone: the migrations create them, the models do not describe them.
SCHEMA_NAMES = frozenset(
    {
        "message_search",
        "message_search_data",
        "message_search_idx",
        "message_search_config",
        "ix_messages_search",
    }
)


def words(content: str) -> list[str]:
    """The distinct words of ``content`` in order: case-folded, NFC, cut at MAX_WORD."""
    folded = unicodedata.normalize("NFC", content.casefold())
    return list(dict.fromkeys(word[:MAX_WORD] for word in _WORD.findall(folded)))


def terms(sender_id: str, recipient_id: str, content: str | None) -> str:
    """The FTS5 document of a message: each word qualified by each participant's id."""
    found = words(content or "")
    return " ".join(
        f"{who}:{word}" for who in dict.fromkeys((sender_id, recipient_id)) for word in found
    )


def register_functions(dbapi_connection: sqlite3.Connection) -> None:
    """Makes ``chat_search_terms`` (used by the index triggers) callable on this connection."""
    dbapi_connection.create_function(TERMS_FUNCTION, 3, terms, deterministic=True)


@event.listens_for(Engine, "connect")
def _sqlite_functions(dbapi_connection, _record) -> None:
    # Every connection: a message written on one without the function would fail its trigger.
    if isinstance(dbapi_connection, sqlite3.Connection):
        register_functions(dbapi_connection)


def include_name(name: str | None, type_: str, _parents: dict) -> bool:
    """Alembic filter: False for the search index's objects, which only migrations describe."""
    return name not in SCHEMA_NAMES


def _sqlite_statement(with_peer: bool, before: bool) -> str:
    # CROSS JOIN keeps the FTS5 table outside: it yields the user's matches newest first
    # (rowid DESC), and the LIMIT stops the walk; messages is only read by primary key.
    return f"""
        SELECT messages.* FROM message_search CROSS JOIN messages
        ON messages.id = message_search.rowid
        WHERE message_search MATCH :match
        {"AND message_search.rowid < :before" if before else ""}
        {"AND messages.user_lo = :lo AND messages.user_hi = :hi" if with_peer else ""}
        ORDER BY message_search.rowid DESC LIMIT :limit
    """


def _postgresql_statement(with_peer: bool, before: bool) -> str:
    # MATERIALIZED, with the index condition alone inside: the matches come from the GIN
    # index (the user's own terms), then are filtered and sorted. Left free, the planner may
    # walk the primary key (backwards for the LIMIT, or by range for ``before``) and test
    # messages of every user on the way.
    conditions = ["AND id < :before" if before else "", ""]
    if with_peer:
        conditions[1] = "AND user_lo = :lo AND user_hi = :hi"
    return f"""
        WITH hits AS MATERIALIZED (
            SELECT * FROM messages
            WHERE chat_search_vector(sender_id, recipient_id, content)
                  @@ chat_search_query(:me, :q)
        )
        SELECT * FROM hits WHERE true {" ".join(conditions)}
        ORDER BY id DESC LIMIT :limit
    """


def search(
    user_id: str, q: str, with_id: str | None, before: int | None, limit: int
) -> tuple[list[Message], bool]:
    """Messages of ``user_id``'s conversations (only the one with ``with_id`` when given)
    containing a word beginning with each word of ``q``, newest first, ids below ``before``;
    at most ``limit``, and whether more exist."""
    found = words(q)
    if not found:
        return [], False
    params: dict[str, object] = {"limit": limit + 1}
    if before is not None:
        params["before"] = before
    if with_id is not None:
        params["lo"], params["hi"] = sorted((user_id, with_id))
    if db.session.get_bind().dialect.name == "postgresql":
        statement = _postgresql_statement(with_id is not None, before is not None)
        # PostgreSQL text cannot hold NUL; it separates words anyway.
        params.update(me=user_id, q=q.replace("\x00", " "))
    else:
        statement = _sqlite_statement(with_id is not None, before is not None)
        # Words hold letters and digits only: nothing in them can be FTS5 query syntax.
        params["match"] = " ".join(f'"{user_id}:{word}"*' for word in found)
    query = text(statement).columns(*Message.__table__.columns)
    rows = list(db.session.scalars(select(Message).from_statement(query), params))
    return rows[:limit], len(rows) > limit
