"""Database models of attachments: one row per upload, its bytes in chunks beside it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from chat.extensions import db
from chat.models import utcnow


class Attachment(db.Model):
    """An uploaded file; ``message_id`` is null until a message of its uploader claims it.

    The foreign key to ``messages`` has no cascade on purpose: a message with attachments
    can only be deleted after ``attachments.remove_for_messages`` removed their bytes, so
    no code path can erase a message and leave its files behind.
    """

    __tablename__ = "attachments"
    __table_args__ = (
        # for_messages (message_id IN ...) and the sweep of unsent uploads (IS NULL, created_at <)
        Index("ix_attachments_message", "message_id", "created_at"),
        # One upload per (uploader, Idempotency-Key); rows without a key (NULL) never clash.
        Index("uq_attachments_uploader_key", "uploader_id", "idempotency_key", unique=True),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    uploader_id: Mapped[str] = mapped_column(String(32), ForeignKey("users.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), default=None)
    position: Mapped[int | None] = mapped_column(default=None)  # order within the message
    name: Mapped[str] = mapped_column(String(255))
    alt: Mapped[str | None] = mapped_column(String(1000), default=None)  # the sender's words
    type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    width: Mapped[int | None] = mapped_column(default=None)
    height: Mapped[int | None] = mapped_column(default=None)
    thumb_size: Mapped[int | None] = mapped_column(default=None)  # images only
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The uploader's Idempotency-Key header, if it sent one (attachment_uploads).
    idempotency_key: Mapped[str | None] = mapped_column(String(200), default=None)


class AttachmentChunk(db.Model):
    """One piece (``blobs.CHUNK_BYTES``) of a stored blob: a file or its thumbnail."""

    __tablename__ = "attachment_chunks"

    blob_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(LargeBinary)
