"""Editing and deleting one's own messages (PROTOCOL.md B7), conversation rows kept right.

A deleted message becomes a tombstone: its content is erased (and its attachments' bytes
removed), ``deleted_at`` is set, and every history leaves it out. Its row stays so that a
second delete is told apart from someone else's message, and its clientId stays taken.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, text

from chat import attachments
from chat.extensions import db
from chat.models import Message, utcnow
from chat.store.blocks import Blocked, blocked_between
from chat.store.domain import StoreError


class NotFound(StoreError):
    code = "not_found"


class TooLate(StoreError):
    code = "too_late"


# The recipient's unread count loses the message if it was after the read mark; a
# decrement (not a recount) commutes with a send's concurrent increment.
_UNREAD_LESS = """
UPDATE read_state SET unread = unread - 1
WHERE user_id = :recipient AND peer_id = :sender AND up_to < :id AND unread > 0
"""
# Both sides whose newest message it was fall back to the newest one left (0: none left).
_LAST_ID_BACK = """
UPDATE read_state SET last_id = COALESCE((
    SELECT MAX(m.id) FROM messages AS m
    WHERE m.user_lo = :lo AND m.user_hi = :hi AND m.deleted_at IS NULL
), 0)
WHERE ((user_id = :lo AND peer_id = :hi) OR (user_id = :hi AND peer_id = :lo)) AND last_id = :id
"""


def _own(user_id: str, message_id: int) -> Message:
    """The message locked for this transaction, if ``user_id`` sent it; else NotFound."""
    msg = db.session.scalar(select(Message).where(Message.id == message_id).with_for_update())
    if msg is None or msg.sender_id != user_id:
        db.session.rollback()
        raise NotFound("no message of yours has this id")
    return msg


def _detached(msg: Message) -> Message:
    # The caller builds wire payloads after the commit: no reload (and no read transaction
    # held across its emits) for attributes the commit would otherwise expire.
    db.session.flush()
    db.session.expunge(msg)
    return msg


def edit_message(user_id: str, message_id: int, content: str, window_s: float) -> Message:
    """Replaces the content of ``user_id``'s own message, sets ``edited_at``, commits, and
    returns it; NotFound (not its own, or deleted), Blocked, TooLate (past ``window_s``
    from ``created_at``)."""
    msg = _own(user_id, message_id)
    if msg.deleted_at is not None:
        db.session.rollback()
        raise NotFound("this message was deleted")
    if blocked_between(msg.sender_id, msg.recipient_id):
        db.session.rollback()
        raise Blocked("one of you blocked the other")
    now = utcnow()
    if now - msg.created_at > timedelta(seconds=window_s):
        db.session.rollback()
        raise TooLate(f"messages can be edited for {window_s:g} seconds after sending")
    msg.content = content
    msg.edited_at = now
    msg = _detached(msg)
    db.session.commit()
    return msg


def delete_message(user_id: str, message_id: int) -> Message:
    """Erases ``user_id``'s own message (content, attachments' bytes), fixes both sides'
    conversation rows, commits, and returns the tombstone; deleting it again returns the
    same. NotFound when it is not this user's message."""
    msg = _own(user_id, message_id)
    if msg.deleted_at is not None:
        msg = _detached(msg)
        db.session.rollback()
        return msg
    # Before the message changes: the attachments' foreign key has no cascade on purpose.
    attachments.remove_for_messages([msg.id])
    msg.content = ""
    msg.deleted_at = utcnow()
    db.session.flush()
    params = {"id": msg.id, "sender": msg.sender_id, "recipient": msg.recipient_id}
    if msg.sender_id != msg.recipient_id:  # a note to self was never unread
        db.session.execute(text(_UNREAD_LESS), params)
    db.session.execute(text(_LAST_ID_BACK), {"id": msg.id, "lo": msg.user_lo, "hi": msg.user_hi})
    msg = _detached(msg)
    db.session.commit()
    return msg
