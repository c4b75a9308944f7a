"""Storing one upload: the uploader's quota, images cleaned, and the optional idempotency key.

Queries and commits like ``store``; never touches ``request``. A key (the client's
``Idempotency-Key`` header, docs/attachments.md) names one upload of its uploader: while
that upload exists, sent or not, storing under the same key again stores nothing and
gives back the upload already stored.
"""

from __future__ import annotations

import re
import secrets
from typing import BinaryIO

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from chat import attachment_images
from chat.attachment_models import Attachment
from chat.attachments import OCTET_STREAM, blob_store, thumb_key
from chat.extensions import db
from chat.models import User

# The domain module, not the package: the stores call the attachments module.
from chat.store.domain import StoreError

# from "!" to "~": visible ASCII, no space; 1 to the column's length.
_KEY = re.compile(r"[!-~]{1,200}")


class QuotaExceeded(StoreError):
    code = "quota_exceeded"


def valid_key(raw: str) -> bool:
    """True when ``raw`` may be an idempotency key: 1 to 200 visible ASCII characters."""
    return _KEY.fullmatch(raw) is not None


def by_key(uploader_id: str, key: str | None) -> Attachment | None:
    """The upload this uploader stored under ``key``, if it still exists (None for no key)."""
    if key is None:
        return None
    return db.session.scalars(
        select(Attachment).where(
            Attachment.uploader_id == uploader_id, Attachment.idempotency_key == key
        )
    ).one_or_none()


def used_bytes(user_id: str) -> int:
    """Bytes of every attachment this user uploaded and still has, sent or not."""
    total = db.session.scalar(
        select(func.coalesce(func.sum(Attachment.size), 0)).where(Attachment.uploader_id == user_id)
    )
    return int(total or 0)


def save(
    uploader_id: str,
    name: str,
    stream: BinaryIO,
    size: int,
    max_pixels: int,
    quota: int,
    alt: str | None = None,
    key: str | None = None,
) -> tuple[Attachment, bool]:
    """Stores one upload of ``size`` bytes for its uploader (``alt``: the uploader's
    description of it, if any; ``key``: its idempotency key, if any), commits, and returns
    it with True.

    When a request racing this one stored an upload under the same ``key`` first, nothing
    is stored: that upload comes back, with False. Images are re-encoded without metadata
    first (``attachment_images``), anything else is kept as sent. Raises QuotaExceeded and
    attachment_images.ImageRefused.
    """
    _check_quota(uploader_id, size, quota)
    db.session.rollback()  # no transaction held while an image decodes
    image = attachment_images.offloaded(attachment_images.clean, stream, max_pixels)
    att = Attachment(
        id=secrets.token_urlsafe(16),
        uploader_id=uploader_id,
        name=name,
        alt=alt,
        idempotency_key=key,
    )
    if image is None:
        stream.seek(0)
        att.type = OCTET_STREAM
        att.size = blob_store.put(att.id, stream)
    else:
        att.type, att.width, att.height = image.type, image.width, image.height
        att.size = blob_store.put(att.id, image.data)
        att.thumb_size = blob_store.put(thumb_key(att.id), image.thumb)
    # Checked again where it counts: uploads of one user running side by side all passed
    # the check above. Holding the uploader's row (PostgreSQL; SQLite's write lock is already
    # held by the chunks) makes the second one see the first's bytes, and its key.
    db.session.execute(select(User.id).where(User.id == uploader_id).with_for_update())
    earlier = by_key(uploader_id, key)
    if earlier is not None:
        return _give_up_for(earlier)
    _check_quota(uploader_id, att.size, quota)
    db.session.add(att)
    try:
        db.session.commit()
    except IntegrityError:
        # The unique index is what holds when the look-up above could not see the other
        # request's row yet; whatever else failed is re-raised.
        db.session.rollback()
        earlier = by_key(uploader_id, key)
        if earlier is None:
            raise
        return _give_up_for(earlier)
    return att, True


def _give_up_for(earlier: Attachment) -> tuple[Attachment, bool]:
    # The chunks written for this request were in its transaction (blobs.DatabaseBlobs):
    # the rollback takes them back.
    attachment_id = earlier.id
    db.session.rollback()
    return db.session.get(Attachment, attachment_id), False


def _check_quota(uploader_id: str, size: int, quota: int) -> None:
    if used_bytes(uploader_id) + size > quota:
        db.session.rollback()
        raise QuotaExceeded(f"your attachments would pass your quota of {quota} bytes")
