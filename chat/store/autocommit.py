"""PostgreSQL statements that commit themselves: one round trip each, no BEGIN or COMMIT.

Under gevent each round trip yields, and a checked-out connection waits for the rest of the
worker to run before its next statement: during a burst (1,000 handshakes at once) those
waits, not the statements, were what kept the pool's connections busy. A statement that is
atomic on its own (the group commit's CTE, the login's CTE) needs no transaction around it.
SQLite does not yield while it holds its connection; it keeps its transactions.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from chat.extensions import db


def active() -> bool:
    """True when the session's statements commit themselves (PostgreSQL)."""
    return db.engine.dialect.name == "postgresql"


def connection() -> Connection:
    """The session's connection; in autocommit when ``active()`` and it begins the session's
    transaction (the session's commit then sends nothing)."""
    if active() and not db.session().in_transaction():
        return db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    return db.session.connection()
