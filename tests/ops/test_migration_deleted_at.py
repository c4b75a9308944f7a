"""The users.deleted_at migration: upgrades and downgrades without touching other rows."""

from __future__ import annotations

from pathlib import Path

from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from app import create_app
from chat.extensions import db
from deploy.databases import pg_database
from tests.support.environments import BASE_CONFIG

MIGRATIONS = str(Path(__file__).resolve().parents[2] / "migrations")
INITIAL = "94dee04656c7"


def _round_trip(uri: str) -> None:
    app = create_app({**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": uri})
    with app.app_context():
        upgrade(directory=MIGRATIONS, revision=INITIAL)
        db.session.execute(
            text(
                "INSERT INTO users (id, username, name_key, read_receipts, created_at) "
                "VALUES ('u1', 'alice', 'alice', true, CURRENT_TIMESTAMP)"
            )
        )
        db.session.execute(
            text(
                "INSERT INTO sessions (token_hash, user_id, created_at, last_used_at) "
                "VALUES ('h', 'u1', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        db.session.commit()
        db.session.remove()

        upgrade(directory=MIGRATIONS)
        columns = {c["name"] for c in inspect(db.engine).get_columns("users")}
        assert "deleted_at" in columns
        downgrade(directory=MIGRATIONS, revision=INITIAL)
        columns = {c["name"] for c in inspect(db.engine).get_columns("users")}
        assert "deleted_at" not in columns
        # A table rebuild under foreign_keys=ON would have cascaded to the sessions.
        assert db.session.execute(text("SELECT count(*) FROM sessions")).scalar() == 1
        db.session.remove()
        upgrade(directory=MIGRATIONS)
        assert db.session.execute(text("SELECT deleted_at FROM users")).scalar() is None
        db.session.remove()
        db.engine.dispose()


def test_round_trip_on_sqlite(tmp_path):
    _round_trip(f"sqlite:///{tmp_path / 'm.db'}")


def test_round_trip_on_postgresql():
    url = pg_database("ops_migration").replace("postgresql://", "postgresql+psycopg://", 1)
    _round_trip(url)
