"""Where attachment bytes live: a small interface, and its implementation in the database.

The interface is three calls, so that an object store (S3 and the like) could take the
database's place: ``put`` a stream under a key, ``read`` a byte range of it as chunks,
``delete`` keys. See docs/attachments.md for why the database is the default.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import BinaryIO, Protocol

from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import Engine

from chat.attachment_models import AttachmentChunk
from chat.extensions import db

# Big enough that a 10 MB file is 40 rows, small enough that 20 downloads at once hold
# about 5 MB of chunks in the worker.
CHUNK_BYTES = 256 * 1024

_CHUNKS = AttachmentChunk.__table__


class BlobStore(Protocol):
    """What attachments need of a byte store."""

    def put(self, key: str, stream: BinaryIO) -> int:
        """Stores the stream under ``key``; returns its size in bytes."""
        ...

    def read(self, key: str, start: int, stop: int) -> Iterator[bytes]:
        """Bytes ``start`` to ``stop`` (exclusive) of ``key``, a chunk at a time."""
        ...

    def delete(self, keys: Iterable[str]) -> None:
        """Forgets ``keys`` (unknown ones are ignored)."""
        ...


class DatabaseBlobs:
    """Blobs as rows of ``attachment_chunks``, written in the caller's transaction."""

    def put(self, key: str, stream: BinaryIO) -> int:
        """Stores the stream under ``key`` a chunk at a time; the caller commits."""
        size = seq = 0
        while chunk := stream.read(CHUNK_BYTES):
            db.session.execute(insert(_CHUNKS), {"blob_id": key, "seq": seq, "data": chunk})
            size += len(chunk)
            seq += 1
        return size

    def read(self, key: str, start: int, stop: int) -> Iterator[bytes]:
        """Bytes ``start`` to ``stop`` of ``key``, one short query per chunk.

        Runs after the request (the response streams): each chunk takes a connection of its
        own and gives it back, so a slow client never holds one (SQLite has only one).
        """
        return _read(db.engine, key, start, stop)

    def delete(self, keys: Iterable[str]) -> None:
        """Deletes the chunks of ``keys`` in the caller's transaction."""
        keys = list(keys)
        if keys:
            db.session.execute(delete(_CHUNKS).where(_CHUNKS.c.blob_id.in_(keys)))


def _read(engine: Engine, key: str, start: int, stop: int) -> Iterator[bytes]:
    if start >= stop:
        return
    size = CHUNK_BYTES
    if start:
        # The chunk size a blob was written with, so that a change of CHUNK_BYTES never
        # breaks ranges of older blobs.
        with engine.connect() as conn:
            size = conn.scalar(
                select(func.length(_CHUNKS.c.data)).where(
                    _CHUNKS.c.blob_id == key, _CHUNKS.c.seq == 0
                )
            )
        if not size:
            return
    for seq in range(start // size, (stop - 1) // size + 1):
        with engine.connect() as conn:
            data = conn.scalar(
                select(_CHUNKS.c.data).where(_CHUNKS.c.blob_id == key, _CHUNKS.c.seq == seq)
            )
        if data is None:
            return
        offset = seq * size
        yield bytes(data[max(0, start - offset) : stop - offset])


def create() -> BlobStore:
    """The configured blob store (the database; see docs/attachments.md)."""
    return DatabaseBlobs()
