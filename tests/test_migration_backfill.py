"""Migration 1f50f1e29c60 fills the new conversation columns from the messages already stored."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask_migrate import upgrade
from sqlalchemy import text

from chat import store
from chat.extensions import db
from tests.support.schema import MIGRATIONS, add_users, app_at

BEFORE = "2d2f7afd5d49"  # the revision before 1f50f1e29c60


@pytest.fixture(params=["sqlite", "postgresql"])
def old_schema_app(request, tmp_path: Path):
    """An app on a database migrated only up to the revision before the conversation columns."""
    with app_at(BEFORE, request.param, tmp_path, "chat_test_backfill") as app:
        yield app


def test_backfill_sets_newest_message_and_unread_per_side(old_schema_app):
    app = old_schema_app
    with app.app_context():
        run = db.session.execute
        add_users("a", "b", "c")
        sent = [("a", "b"), ("b", "a"), ("a", "b"), ("a", "b"), ("c", "a"), ("a", "a")]
        for n, (sender, recipient) in enumerate(sent, start=1):
            lo, hi = sorted((sender, recipient))
            run(
                text(
                    "INSERT INTO messages (id, sender_id, recipient_id, user_lo, user_hi, "
                    "content, created_at) VALUES (:n, :s, :r, :lo, :hi, 'x', CURRENT_TIMESTAMP)"
                ),
                {"n": n, "s": sender, "r": recipient, "lo": lo, "hi": hi},
            )
        # b had read a's messages up to id 3 before the upgrade.
        run(text("INSERT INTO read_state (user_id, peer_id, up_to) VALUES ('b', 'a', 3)"))
        db.session.commit()
        upgrade(directory=MIGRATIONS)
        rows = run(text("SELECT user_id, peer_id, up_to, last_id, unread FROM read_state")).all()
        assert {tuple(r) for r in rows} == {
            ("a", "b", 0, 4, 1),  # b -> a once (id 2), unread by a
            ("b", "a", 3, 4, 1),  # a -> b at 1, 3, 4; read up to 3
            ("a", "c", 0, 5, 1),
            ("c", "a", 0, 5, 0),
            ("a", "a", 0, 6, 0),  # a note to self is never unread
        }
        # The kept columns are what the store reads on connect.
        assert dict(store.contacts("b", 10)) == {"a": 1}
        assert [peer for peer, _ in store.contacts("a", 10)] == ["a", "c", "b"]
