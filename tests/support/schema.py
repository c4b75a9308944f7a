"""Apps on a database migrated only part of the way, for the tests of one migration."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import text

from app import create_app
from chat.extensions import db
from chat.services import services
from deploy.databases import pg_database
from deploy.launch import ROOT
from tests.support.environments import BASE_CONFIG

MIGRATIONS = str(ROOT / "migrations")


@contextmanager
def app_at(revision: str, kind: str, tmp_path: Path, pg_name: str) -> Iterator[Flask]:
    """An app on a new ``kind`` ("sqlite" or "postgresql") database migrated up to
    ``revision``; its engine is disposed of afterwards."""
    if kind == "sqlite":
        uri = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        uri = pg_database(pg_name).replace("postgresql://", "postgresql+psycopg://")
    app = create_app({**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": uri})
    with app.app_context():
        upgrade(directory=MIGRATIONS, revision=revision)
    try:
        yield app
    finally:
        services(app).presence.close()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def add_users(*ids: str) -> None:
    """Inserts users named by their ids with plain SQL (the models may be ahead of the schema)."""
    for uid in ids:
        db.session.execute(
            text(
                "INSERT INTO users (id, username, name_key, read_receipts, created_at) "
                "VALUES (:id, :id, :id, true, CURRENT_TIMESTAMP)"
            ),
            {"id": uid},
        )
