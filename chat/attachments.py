"""Attachments: stored uploads, claimed by a message, listed per message, removed with it.

Queries and commits like ``store``; never touches ``request``. Storing an upload is
``attachment_uploads``' part. The bytes go through ``blobs`` (the database by default).
An upload belongs to its uploader alone until a message claims it; from then on to that
message's sender and recipient.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any

from flask import Flask
from sqlalchemy import Integer, any_, bindparam, cast, delete, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY

from chat import blobs
from chat.attachment_models import Attachment
from chat.extensions import db
from chat.models import Message, utcnow

# The domain module, not the package: the stores call this module (a message's attachments).
from chat.store.domain import StoreError

log = logging.getLogger(__name__)

MAX_PER_MESSAGE = 10
MAX_NAME = 255
MAX_ALT = 1000  # code points of an image's description (the column's length)
URL_PREFIX = "/api/attachments/"
OCTET_STREAM = "application/octet-stream"

# Where the bytes go (attachment_uploads puts them, this module reads and deletes them).
blob_store: blobs.BlobStore = blobs.create()


class InvalidAttachments(StoreError):
    code = "invalid_payload"


class UnknownAttachment(StoreError):
    code = "unknown_attachment"


def thumb_key(attachment_id: str) -> str:
    """The blob key of an image's thumbnail."""
    return attachment_id + ".thumb"


def _keys(ids: Iterable[str]) -> Iterator[str]:
    for attachment_id in ids:
        yield attachment_id
        yield thumb_key(attachment_id)


def wire(att: Any) -> dict[str, object]:
    """An attachment (an Attachment or a row with its columns) as it appears in a message's
    ``attachments`` (PROTOCOL.md B10)."""
    out: dict[str, object] = {
        "id": att.id,
        "name": att.name,
        "type": att.type,
        "size": att.size,
        "url": URL_PREFIX + att.id,
    }
    if att.width is not None:
        out["width"] = att.width
        out["height"] = att.height
    if att.alt is not None:
        out["alt"] = att.alt
    return out


def validate_ids(raw: object) -> list[str]:
    """The ``attachments`` field of a message as a list of ids; InvalidAttachments if malformed.

    What the payload alone shows: a list of at most 10 distinct non-empty strings.
    """
    if not isinstance(raw, list) or not all(isinstance(i, str) and 0 < len(i) <= 64 for i in raw):
        raise InvalidAttachments("attachments must be a list of attachment ids")
    if len(raw) > MAX_PER_MESSAGE:
        raise InvalidAttachments(f"at most {MAX_PER_MESSAGE} attachments per message")
    if len(set(raw)) != len(raw):
        raise InvalidAttachments("an attachment id appears twice")
    return raw


def content_for(sender_id: str, ids: list[str]) -> str:
    """The stored ``content`` of a message with only attachments: their names, in order.

    Only this sender's unsent uploads count; an unknown id is skipped here (``claim``
    refuses it), so that the errors keep PROTOCOL.md B6's order.
    """
    rows = db.session.execute(
        select(Attachment.id, Attachment.name).where(
            Attachment.id.in_(ids),
            Attachment.uploader_id == sender_id,
            Attachment.message_id.is_(None),
        )
    )
    names = {attachment_id: name for attachment_id, name in rows}
    return ", ".join(names[i] for i in ids if i in names)


def claim(sender_id: str, recipient_id: str, ids: object, message_id: int) -> list[dict]:
    """Attaches the sender's unsent uploads ``ids`` to message ``message_id``, in order.

    Runs in the caller's transaction (the one that inserted the message) and does not
    commit. Raises InvalidAttachments (malformed, over 10, an id twice) and
    UnknownAttachment (not an unsent upload of this sender); the caller then rolls back.
    From then on the message's sender and ``recipient_id`` may read them (through the
    message row). Returns the wire entries, in the order of ``ids``.
    """
    ids = validate_ids(ids)
    if not ids:
        return []
    claimed = db.session.execute(
        update(Attachment)
        .where(
            Attachment.id.in_(ids),
            Attachment.uploader_id == sender_id,
            Attachment.message_id.is_(None),
        )
        .values(message_id=message_id)
    ).rowcount
    if claimed != len(ids):
        raise UnknownAttachment("an attachment is not an unsent upload of yours")
    rows = {
        a.id: a
        for a in db.session.scalars(
            select(Attachment)
            .where(Attachment.id.in_(ids))
            .execution_options(populate_existing=True)
        )
    }
    for position, attachment_id in enumerate(ids):
        rows[attachment_id].position = position  # flushed with the caller's commit
    return [wire(rows[i]) for i in ids]


def for_messages(message_ids: Iterable[int]) -> dict[int, list[dict]]:
    """Wire entries of the given messages' attachments, by message id, in one query.

    Messages without attachments are absent from the result.
    """
    message_ids = list(message_ids)
    out: dict[int, list[dict]] = {}
    if not message_ids:
        return out
    statement = _for_messages_statement(db.engine.dialect.name)
    for att in db.session.execute(statement, {"ids": message_ids}):
        out.setdefault(att.message_id, []).append(wire(att))
    return out


@cache
def _for_messages_statement(dialect: str):
    """``for_messages``' statement, built once per dialect, in Core (a connect lists up to
    100 pages of messages: the ORM and a new statement per call cost ~1.5 ms there); on
    PostgreSQL the ids are one array parameter, so its text never changes."""
    a = Attachment.__table__.c
    if dialect == "postgresql":
        among = a.message_id == any_(cast(bindparam("ids", type_=ARRAY(Integer)), ARRAY(Integer)))
    else:
        among = a.message_id.in_(bindparam("ids", expanding=True))
    columns = (a.message_id, a.id, a.name, a.type, a.size, a.width, a.height, a.alt)
    return select(*columns).where(among).order_by(a.message_id, a.position)


def _remove(condition) -> int:
    ids = list(db.session.scalars(select(Attachment.id).where(condition)))
    if ids:
        blob_store.delete(_keys(ids))
        db.session.execute(delete(Attachment).where(Attachment.id.in_(ids)))
    return len(ids)


def remove_for_messages(message_ids: Iterable[int]) -> int:
    """Erases the attachments (rows and bytes) of these messages; the caller commits.

    Call it before deleting the messages: the foreign key refuses the other order.
    """
    message_ids = list(message_ids)
    if not message_ids:
        return 0
    return _remove(Attachment.message_id.in_(message_ids))


def remove_for_user(user_id: str) -> int:
    """Erases every attachment this user uploaded, sent or not; the caller commits."""
    return _remove(Attachment.uploader_id == user_id)


def purge_unsent(older_than: timedelta, batch: int = 500) -> int:
    """Erases uploads never sent that are older than ``older_than``, in short transactions."""
    cutoff = utcnow() - older_than
    total = 0
    while True:
        ids = list(
            db.session.scalars(
                select(Attachment.id)
                .where(Attachment.message_id.is_(None), Attachment.created_at < cutoff)
                .limit(batch)
            )
        )
        if not ids:
            return total
        total += _remove(Attachment.id.in_(ids))
        db.session.commit()


@dataclass(frozen=True)
class Readable:
    """An attachment the caller may read, and what serving it needs."""

    id: str
    name: str
    type: str
    size: int
    thumb_size: int | None

    def read(self, start: int, stop: int, thumb: bool = False) -> Iterator[bytes]:
        """The bytes ``start`` to ``stop`` of the file (or of its thumbnail), a chunk at a time."""
        return blob_store.read(thumb_key(self.id) if thumb else self.id, start, stop)


def readable(user_id: str, attachment_id: str) -> Readable | None:
    """The attachment if ``user_id`` may read it: its uploader before it is sent, the sender
    and recipient of its message after; None otherwise (and for unknown ids)."""
    row = db.session.execute(
        select(Attachment)
        .outerjoin(Message, Message.id == Attachment.message_id)
        .where(
            Attachment.id == attachment_id,
            or_(
                (Attachment.message_id.is_(None)) & (Attachment.uploader_id == user_id),
                Message.sender_id == user_id,
                Message.recipient_id == user_id,
            ),
        )
    ).scalar_one_or_none()
    if row is None:
        return None
    return Readable(row.id, row.name, row.type, row.size, row.thumb_size)


def start_housekeeping(app: Flask, spawn, sleep) -> None:
    """Removes unsent uploads past ATTACHMENT_UNSENT_TTL_S every ATTACHMENT_SWEEP_S; idempotent.

    Every process sweeps, each at a random phase: the delete is cheap and idempotent, and
    no process is special.
    """
    if app.extensions.get("chat.attachment_sweeper"):
        return
    app.extensions["chat.attachment_sweeper"] = True
    every = float(app.config["ATTACHMENT_SWEEP_S"])
    ttl = timedelta(seconds=float(app.config["ATTACHMENT_UNSENT_TTL_S"]))

    def loop() -> None:
        sleep(random.uniform(0, every))
        while True:
            with app.app_context():
                try:
                    removed = purge_unsent(ttl)
                    if removed:
                        log.info("removed %d unsent attachments", removed)
                except Exception:
                    db.session.rollback()
                    log.exception("attachment housekeeping failed; retrying later")
                finally:
                    db.session.remove()
            sleep(every)

    spawn(loop)
