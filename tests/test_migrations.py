"""The migrations describe exactly the models: nothing for autogenerate to add."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from chat.extensions import db
from chat.store.search import include_name


def test_migrated_schema_matches_models(app):
    with app.app_context(), db.engine.connect() as conn:
        # The search index is the migrations' alone (tests/test_message_search_plans.py checks it).
        context = MigrationContext.configure(conn, opts={"include_name": include_name})
        diff = compare_metadata(context, db.metadata)
    assert diff == []
