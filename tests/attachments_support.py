"""Helpers of the attachment tests: people with a Bearer token, uploads, images made here."""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from typing import Any

from PIL import Image
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from chat import attachments, store
from chat.extensions import db


@dataclass
class Person:
    """A user with a sessionID, speaking HTTP through ``client`` with a Bearer header."""

    user_id: str
    token: str
    client: Any

    def headers(self) -> dict[str, str]:
        """The Authorization header of this person's session."""
        return {"Authorization": f"Bearer {self.token}"}

    def upload(self, data: bytes, name: str = "file.bin", alt: str | None = None, **headers: str):
        """POSTs ``data`` as the part ``file`` (and ``alt``, if given) and returns the response."""
        fields: dict = {"file": FileStorage(io.BytesIO(data), name)}
        if alt is not None:
            fields["alt"] = alt
        boundary, body = multipart(fields)
        return self.client.post(
            "/api/attachments",
            data=body,
            headers={**self.headers(), **headers},
            content_type=f"multipart/form-data; boundary={boundary}",
        )

    def get(self, url: str, **headers: str):
        """GETs ``url`` with this person's session."""
        return self.client.get(url, headers={**self.headers(), **headers})


def multipart(fields: dict) -> tuple[str, bytes]:
    """A multipart body in memory: the test client spools big ones to a file it never closes."""
    return encode_multipart(MultiDict(fields))


def person(app, name: str) -> Person:
    """A new user and a session for it."""
    with app.app_context():
        me, token = store.login(name)
    return Person(me.user_id, token, app.test_client())


def send_with(app, sender: Person, recipient: Person, ids: list[str]) -> int:
    """Stores a message from sender to recipient and claims ``ids`` for it; its id."""
    with app.app_context():
        saved = store.save_message(sender.user_id, recipient.user_id, "see attached", None)
        attachments.claim(sender.user_id, recipient.user_id, ids, saved.message.id)
        db.session.commit()
        return saved.message.id


def png(width: int = 40, height: int = 30, color=(200, 30, 30)) -> bytes:
    """A small PNG."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG")
    return out.getvalue()


GPS_IFD = 0x8825


def jpeg_with_gps() -> bytes:
    """A JPEG whose EXIF carries a GPS position (Paris), a camera model and a comment."""
    exif = Image.Exif()
    exif[0x0110] = "SecretPhone 12"  # Model
    exif[0x010E] = "holiday at home"  # ImageDescription
    exif[GPS_IFD] = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 120, 200)).save(out, "JPEG", exif=exif, comment=b"secret")
    return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that announces ``width`` x ``height`` pixels in a few dozen bytes: a bomb."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
