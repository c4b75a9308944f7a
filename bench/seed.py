"""Seeds a migrated database for the connect-time benchmark: users, a probe session, messages.

The probe is the user whose connections are timed. Each seed keeps the probe's own view
(its contacts and the newest page of each conversation) the same between a small and a
large variant, so that any difference in connect time comes from the stored volume alone.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

BATCH = 5_000


@dataclass(frozen=True)
class Seed:
    """What to store: ``users`` in all, ``contacts`` peers of the probe with
    ``per_conversation`` messages each, and ``others`` messages between other users."""

    name: str
    users: int
    contacts: int = 0
    per_conversation: int = 0
    others: int = 0

    @property
    def stored(self) -> int:
        """Messages stored in all."""
        return self.contacts * self.per_conversation + self.others


SEEDS = {
    "empty": Seed("0 stored", users=1_000),
    "others-100k": Seed("100k stored, none the probe's", users=1_000, others=100_000),
    "probe-1k": Seed("1k stored: probe 20 x 50", users=1_000, contacts=20, per_conversation=50),
    "probe-100k": Seed(
        "100k stored: probe 20 x 5,000", users=1_000, contacts=20, per_conversation=5_000
    ),
    "users-100k": Seed(
        "100k users, probe 20 x 50", users=100_000, contacts=20, per_conversation=50
    ),
}


def _batches(rows, size=BATCH):
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def seed(database_uri: str, spec: Seed) -> str:
    """Fills an empty migrated database and returns the probe's sessionID."""
    from app import create_app
    from chat import store
    from chat.extensions import db
    from chat.models import Message, Session, User
    from chat.services import services

    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": database_uri, "SECRET_KEY": "bench", "REDIS_URL": None}
    )
    token = secrets.token_urlsafe(32)
    start = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=30)
    with app.app_context():
        ids = [f"u{i:015d}" for i in range(spec.users)]
        probe = ids[0]
        users = (
            {"id": uid, "username": f"user{i:06d}", "name_key": f"user{i:06d}"}
            for i, uid in enumerate(ids)
        )
        for batch in _batches(users):
            db.session.execute(insert(User), batch)
        db.session.execute(
            insert(Session), [{"token_hash": store.hash_token(token), "user_id": probe}]
        )

        def messages():
            n = 0
            # Old history first (other users' conversations), the probe's newest last, so
            # that the probe's pages are at the end of the id range, as in a live system.
            others = ids[1 + spec.contacts :] or ids[1:]
            for k in range(spec.others):
                a = others[k % len(others)]
                b = others[(k * 7 + 1) % len(others)]
                if a == b:
                    b = others[(k + 1) % len(others)]
                yield a, b, n
                n += 1
            for k in range(spec.per_conversation):
                for c in range(spec.contacts):
                    peer = ids[1 + c]
                    yield (probe, peer, n) if k % 2 else (peer, probe, n)
                    n += 1

        def rows():
            for sender, recipient, n in messages():
                lo, hi = sorted((sender, recipient))
                yield {
                    "sender_id": sender,
                    "recipient_id": recipient,
                    "user_lo": lo,
                    "user_hi": hi,
                    "content": f"seeded message {n}",
                    "created_at": start + timedelta(milliseconds=n),
                }

        for batch in _batches(rows()):
            db.session.execute(insert(Message), batch)
        rebuild = getattr(store, "rebuild_conversations", None)
        if rebuild is not None:
            rebuild()
        db.session.commit()
        # Statistics, as a database that has been running would have them (PostgreSQL's
        # autovacuum gets there within minutes; SQLite's only on ANALYZE or PRAGMA optimize).
        with db.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
        db.session.remove()
        db.engine.dispose()
    services(app).presence.close()
    return token
