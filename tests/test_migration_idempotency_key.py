"""Migration d4e8b1f6a2c7 adds attachments.idempotency_key: existing uploads keep working (no
key, never clashing), a key is unique per uploader, and the downgrade takes it away."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from chat.extensions import db
from tests.support.schema import MIGRATIONS, add_users, app_at

BEFORE = "c3d9a7e5f1b2"  # the revision before d4e8b1f6a2c7

INSERT = (
    "INSERT INTO attachments (id, uploader_id, name, type, size, created_at{key}) "
    "VALUES (:id, :uploader, 'f.bin', 'application/octet-stream', 1, CURRENT_TIMESTAMP{value})"
)


def _insert(attachment_id: str, uploader: str, key: str | None = None) -> None:
    with_key = key is not None
    statement = INSERT.format(
        key=", idempotency_key" if with_key else "", value=", :key" if with_key else ""
    )
    db.session.execute(text(statement), {"id": attachment_id, "uploader": uploader, "key": key})


@pytest.fixture(params=["sqlite", "postgresql"])
def old_schema_app(request, tmp_path: Path):
    """An app on a database migrated only up to the revision before the key."""
    with app_at(BEFORE, request.param, tmp_path, "chat_test_idempotency_key") as app:
        yield app


def test_upgrade_keeps_uploads_and_makes_keys_unique_per_uploader(old_schema_app):
    with old_schema_app.app_context():
        add_users("a", "b")
        _insert("old1", "a")
        _insert("old2", "a")
        db.session.commit()
        upgrade(directory=MIGRATIONS)
        rows = db.session.execute(text("SELECT id, idempotency_key FROM attachments")).all()
        assert sorted(tuple(r) for r in rows) == [("old1", None), ("old2", None)]
        _insert("new1", "a", "k")
        _insert("new2", "b", "k")  # another uploader's key is its own
        db.session.commit()
        with pytest.raises(IntegrityError):
            _insert("new3", "a", "k")
        db.session.rollback()

        downgrade(directory=MIGRATIONS, revision=BEFORE)
        columns = {c["name"] for c in inspect(db.engine).get_columns("attachments")}
        assert "idempotency_key" not in columns
        count = db.session.scalar(text("SELECT count(*) FROM attachments"))
        assert count == 4
