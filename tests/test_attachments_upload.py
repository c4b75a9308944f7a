"""POST /api/attachments (PROTOCOL.md B10): who may upload, the limits, images cleaned."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from chat import attachment_images, attachment_uploads
from chat.attachment_models import Attachment, AttachmentChunk
from chat.extensions import db
from tests.attachments_support import Person, jpeg_with_gps, person, png, png_header_only
from tests.support.pages import csrf_token, login


def test_bearer_upload_answers_201_with_its_wire_entry(app):
    alice = person(app, "alice")
    response = alice.upload(b"%PDF-1.4 hello", "report.pdf")
    assert response.status_code == 201
    body = response.get_json()
    assert body == {
        "id": body["id"],
        "name": "report.pdf",
        "type": "application/octet-stream",
        "size": 14,
        "url": f"/api/attachments/{body['id']}",
    }
    assert response.headers["Location"] == body["url"]
    assert alice.get(body["url"]).get_data() == b"%PDF-1.4 hello"


def test_the_name_is_returned_unchanged(app):
    response = person(app, "alice").upload(b"x", "Übersicht «2026» 日本.txt")
    assert response.get_json()["name"] == "Übersicht «2026» 日本.txt"


def test_cookie_upload_needs_the_csrf_header(client):
    login(client, "alice")
    token = csrf_token(client.get("/").get_data(as_text=True))
    files = {"file": (io.BytesIO(b"hello"), "a.txt")}
    refused = client.post("/api/attachments", data=files, content_type="multipart/form-data")
    assert refused.status_code == 403
    assert refused.get_json()["error"] == "csrf_failed"
    wrong = client.post(
        "/api/attachments",
        data={"file": (io.BytesIO(b"hello"), "a.txt")},
        headers={"X-CSRFToken": "not-the-token"},
    )
    assert wrong.status_code == 403
    ok = client.post(
        "/api/attachments",
        data={"file": (io.BytesIO(b"hello"), "a.txt")},
        headers={"X-CSRFToken": token},
    )
    assert ok.status_code == 201
    assert client.get(ok.get_json()["url"]).get_data() == b"hello"


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer no-such-session"}, {"Authorization": "Bearer "}]
)
def test_no_valid_session_gets_401(client, headers):
    response = client.post(
        "/api/attachments", data={"file": (io.BytesIO(b"x"), "a.txt")}, headers=headers
    )
    assert response.status_code == 401
    assert response.get_json()["error"] == "not_authenticated"


def test_a_bearer_header_is_not_retried_as_the_cookie(client):
    login(client, "alice")
    token = csrf_token(client.get("/").get_data(as_text=True))
    response = client.post(
        "/api/attachments",
        data={"file": (io.BytesIO(b"x"), "a.txt")},
        headers={"Authorization": "Bearer wrong", "X-CSRFToken": token},
    )
    assert response.status_code == 401


def _part(content: bytes, name: str):
    return lambda: (io.BytesIO(content), name)


@pytest.mark.parametrize(
    ("parts", "code"),
    [
        ({}, "invalid_payload"),
        ({"other": _part(b"x", "a.txt")}, "invalid_payload"),
        ({"file": lambda: "not a file part"}, "invalid_payload"),
        ({"file": _part(b"", "empty.txt")}, "empty"),
        ({"file": _part(b"x", "a" * 256)}, "invalid_payload"),
        ({"file": _part(b"x", "bad\x01name.txt")}, "invalid_payload"),
    ],
)
def test_no_or_empty_file_gets_400(app, parts, code):
    alice = person(app, "alice")
    data = {key: make() for key, make in parts.items()}
    response = alice.client.post(
        "/api/attachments", data=data, headers=alice.headers(), content_type="multipart/form-data"
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == code
    with app.app_context():
        assert db.session.query(Attachment).count() == 0


def test_over_max_attachment_bytes_gets_413(make_app):
    app = make_app(MAX_ATTACHMENT_BYTES=1000)
    alice = person(app, "alice")
    assert alice.upload(b"x" * 1000).status_code == 201
    response = alice.upload(b"x" * 1001)
    assert response.status_code == 413
    assert response.get_json()["error"] == "too_large"
    # far over: refused from Content-Length alone, before the body is parsed
    assert alice.upload(b"x" * 200_000).status_code == 413
    with app.app_context():
        assert db.session.query(Attachment).count() == 1


def test_over_the_upload_rate_gets_429_with_retry_after(make_app):
    app = make_app(UPLOAD_RATE=0.01, UPLOAD_BURST=2)
    alice, bob = person(app, "alice"), person(app, "bob")
    assert [alice.upload(b"x").status_code for _ in range(2)] == [201, 201]
    response = alice.upload(b"x")
    assert response.status_code == 429
    assert response.get_json()["error"] == "rate_limited"
    assert int(response.headers["Retry-After"]) >= 1
    assert bob.upload(b"x").status_code == 201  # the limit is per user


def test_the_quota_counts_sent_and_unsent_bytes(make_app):
    app = make_app(ATTACHMENT_QUOTA_BYTES=2500)
    alice, bob = person(app, "alice"), person(app, "bob")
    first = alice.upload(b"a" * 1000).get_json()
    from tests.attachments_support import send_with

    send_with(app, alice, bob, [first["id"]])
    assert alice.upload(b"b" * 1000).status_code == 201
    response = alice.upload(b"c" * 1000)
    assert response.status_code == 413
    body = response.get_json()
    assert body["error"] == "quota_exceeded"
    assert "2500" in body["detail"]
    assert bob.upload(b"c" * 1000).status_code == 201  # the quota is per user


def test_uploads_side_by_side_cannot_pass_the_quota_together(make_app, monkeypatch):
    app = make_app(ATTACHMENT_QUOTA_BYTES=1500)
    alice = person(app, "alice")
    other_tab = Person(alice.user_id, alice.token, app.test_client())
    decode = attachment_images.offloaded
    meanwhile = []

    def another_upload_first(fn, *args):
        # The first upload has passed the early check; the second runs to its end now.
        if not meanwhile:
            meanwhile.append(None)
            meanwhile[0] = other_tab.upload(b"b" * 1000)
        return decode(fn, *args)

    monkeypatch.setattr(attachment_images, "offloaded", another_upload_first)
    first = alice.upload(b"a" * 1000)
    assert meanwhile[0].status_code == 201
    assert first.status_code == 413
    assert first.get_json()["error"] == "quota_exceeded"
    with app.app_context():
        assert attachment_uploads.used_bytes(alice.user_id) == 1000
        assert db.session.query(AttachmentChunk).count() == 1  # the refused bytes are gone


def _exif_of(data: bytes) -> dict:
    with Image.open(io.BytesIO(data)) as im:
        return dict(im.getexif()), im.info, im.size


def test_a_jpeg_with_gps_exif_comes_back_without_it(app):
    original = jpeg_with_gps()
    exif, info, _ = _exif_of(original)
    assert 0x8825 in exif and "comment" in info  # the test file does carry them
    alice = person(app, "alice")
    body = alice.upload(original, "holiday.png").get_json()  # the name lies: bytes decide
    assert body["type"] == "image/jpeg"
    assert (body["width"], body["height"]) == (64, 48)
    served = alice.get(body["url"])
    assert served.mimetype == "image/jpeg"
    data = served.get_data()
    exif, info, size = _exif_of(data)
    assert exif == {}
    assert "exif" not in info and "comment" not in info
    assert b"SecretPhone" not in data and b"holiday at home" not in data
    assert size == (64, 48)


def test_a_rotated_phone_photo_is_stored_upright(app):
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    out = io.BytesIO()
    Image.new("RGB", (80, 40)).save(out, "JPEG", exif=exif)
    body = person(app, "alice").upload(out.getvalue(), "p.jpg").get_json()
    assert (body["width"], body["height"]) == (40, 80)


def test_png_text_chunks_are_dropped_and_a_thumbnail_is_stored(app):
    from PIL import PngImagePlugin

    meta = PngImagePlugin.PngInfo()
    meta.add_text("Author", "Alice Secret")
    out = io.BytesIO()
    Image.new("RGBA", (1000, 500), (0, 0, 0, 0)).save(out, "PNG", pnginfo=meta)
    alice = person(app, "alice")
    body = alice.upload(out.getvalue(), "shot.bin").get_json()
    assert body["type"] == "image/png"
    assert b"Alice Secret" not in alice.get(body["url"]).get_data()
    thumb = alice.get(body["url"] + "?thumb=1")
    assert thumb.status_code == 200
    assert thumb.mimetype == "image/webp"
    with Image.open(io.BytesIO(thumb.get_data())) as im:
        assert im.size == (320, 160)


def test_an_animated_gif_stays_animated(app):
    frames = [Image.new("RGB", (20, 20), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    with Image.open(io.BytesIO(out.getvalue())) as im:
        assert im.n_frames == 3
    alice = person(app, "alice")
    body = alice.upload(out.getvalue(), "a.gif").get_json()
    assert body["type"] == "image/gif"
    with Image.open(io.BytesIO(alice.get(body["url"]).get_data())) as im:
        assert im.n_frames == 3


@pytest.mark.parametrize(
    ("config", "data"),
    [
        ({}, png_header_only(100_000, 100_000)),  # Pillow's own guard
        ({}, png_header_only(8_000, 8_000)),  # 64 MP: over ATTACHMENT_MAX_PIXELS (40 MP)
        ({"ATTACHMENT_MAX_PIXELS": 1000}, png(40, 30)),
    ],
)
def test_a_decompression_bomb_gets_400(make_app, config, data):
    app = make_app(**config)
    response = person(app, "alice").upload(data, "bomb.png")
    assert response.status_code == 400
    assert response.get_json()["error"] == "image_too_large"
    with app.app_context():
        assert db.session.query(Attachment).count() == 0


def test_a_truncated_image_gets_400(app):
    data = jpeg_with_gps()
    response = person(app, "alice").upload(data[: len(data) // 2], "cut.jpg")
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_image"


def test_a_large_file_is_stored_in_chunks(app):
    data = bytes(range(256)) * 4096 + b"tail"  # 1 MiB and 4 bytes
    body = person(app, "alice").upload(data, "big.bin").get_json()
    with app.app_context():
        sizes = [
            len(c.data)
            for c in db.session.query(AttachmentChunk)
            .filter_by(blob_id=body["id"])
            .order_by(AttachmentChunk.seq)
        ]
        assert attachment_uploads.used_bytes(body["id"]) == 0
    assert sizes == [256 * 1024] * 4 + [4]
