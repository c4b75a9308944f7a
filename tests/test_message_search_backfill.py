"""Migration 5b7e2c9d41a3 indexes the messages already stored, and its downgrade removes it."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from chat.extensions import db
from chat.store import search
from tests.support.schema import MIGRATIONS, add_users, app_at

BEFORE = "a12193e0bb4c"  # the revision before the search index


@pytest.fixture(params=["sqlite", "postgresql"])
def old_schema_app(request, tmp_path: Path):
    """An app on a database migrated only up to the revision before the search index."""
    with app_at(BEFORE, request.param, tmp_path, "chat_test_search") as app:
        yield app


def test_upgrade_indexes_stored_messages_then_follows_new_ones(old_schema_app):
    app = old_schema_app
    with app.app_context():
        run = db.session.execute
        add_users("a", "b", "c")
        stored = [("a", "b", "Old Lunch plans"), ("c", "b", "lunch with c"), ("c", "c", "lunch")]
        for n, (sender, recipient, content) in enumerate(stored, start=1):
            lo, hi = sorted((sender, recipient))
            run(
                text(
                    "INSERT INTO messages (id, sender_id, recipient_id, user_lo, user_hi, "
                    "content, created_at) VALUES (:n, :s, :r, :lo, :hi, :c, CURRENT_TIMESTAMP)"
                ),
                {"n": n, "s": sender, "r": recipient, "lo": lo, "hi": hi, "c": content},
            )
        db.session.commit()
        upgrade(directory=MIGRATIONS)

        def ids(user, q):
            found = [m.id for m in search.search(user, q, None, None, 20)[0]]
            db.session.commit()
            return found

        assert ids("a", "lun") == [1]
        assert ids("b", "lunch") == [2, 1]
        assert ids("c", "LUNCH") == [3, 2]
        run(text("UPDATE messages SET content = 'dinner' WHERE id = 1"))
        db.session.commit()
        assert ids("a", "lunch") == [] and ids("a", "dinner") == [1]

        db.session.commit()  # SQLite: a pool of one connection, which the downgrade needs
        downgrade(directory=MIGRATIONS, revision=BEFORE)
        names = search.SCHEMA_NAMES
        with db.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                left = conn.exec_driver_sql("SELECT name FROM sqlite_master").scalars()
            else:
                left = conn.exec_driver_sql("SELECT relname FROM pg_class").scalars()
            assert not names & set(left)
        # Messages are still written without the index.
        run(text("UPDATE messages SET content = 'supper' WHERE id = 1"))
        db.session.commit()
