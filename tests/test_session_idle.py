"""A session's last use: a resume records it at most once a minute, and a session idle for
SESSION_IDLE_DAYS can no longer be resumed (README, configuration)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from chat.extensions import db
from chat.models import Session, utcnow


def _age(app, session_id: int, by: timedelta) -> object:
    """Moves the session's last use ``by`` into the past; returns the new value."""
    with app.app_context():
        then = utcnow() - by
        db.session.execute(
            update(Session).where(Session.id == session_id).values(last_used_at=then)
        )
        db.session.commit()
        return then


def _last_used(app, session_id: int) -> object:
    with app.app_context():
        value = db.session.scalar(select(Session.last_used_at).where(Session.id == session_id))
        db.session.rollback()
        return value


def _session_id(app, user_id: str) -> int:
    with app.app_context():
        value = db.session.scalar(select(Session.id).where(Session.user_id == user_id))
        db.session.rollback()
        return value


def test_a_resume_records_its_use_once_the_last_is_a_minute_old(app, connect_as):
    alice = connect_as("alice")
    session_id = _session_id(app, alice.user_id)
    then = _age(app, session_id, timedelta(minutes=2))
    connect_as(session_id=alice.session_id)
    assert _last_used(app, session_id) > then


def test_a_resume_within_the_minute_writes_nothing(app, connect_as):
    alice = connect_as("alice")
    session_id = _session_id(app, alice.user_id)
    then = _age(app, session_id, timedelta(seconds=20))
    connect_as(session_id=alice.session_id)
    assert _last_used(app, session_id) == then


def test_an_idle_session_is_refused_and_deleted(app, connect_as, socket_client):
    alice = connect_as("alice")
    session_id = _session_id(app, alice.user_id)
    _age(app, session_id, timedelta(days=app.config["SESSION_IDLE_DAYS"], minutes=1))
    late = socket_client(auth={"sessionID": alice.session_id})
    assert not late.is_connected()
    assert late.connect_error == {"message": "invalid username"}
    assert _last_used(app, session_id) is None  # the row is gone
