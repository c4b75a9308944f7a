"""POST /api/attachments with an Idempotency-Key header (docs/protocol.md B10): a repeat by
the same uploader answers the upload already stored, 200 instead of 201, storing nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from chat import attachment_images, attachment_uploads, attachments
from chat.attachment_models import Attachment, AttachmentChunk
from chat.extensions import db
from tests.attachments_support import Person, person, png, send_with

KEY = "0b6f3c0e-6a51-4f0e-9d9e-1f2a3b4c5d6e.3f2a91c0"


def _stored(app) -> tuple[int, int]:
    """How many uploads and chunks the database holds."""
    with app.app_context():
        uploads = db.session.scalar(select(func.count()).select_from(Attachment))
        chunks = db.session.scalar(select(func.count()).select_from(AttachmentChunk))
        return uploads, chunks


def test_a_repeat_answers_the_first_upload_and_stores_nothing(app):
    alice = person(app, "alice")
    first = alice.upload(png(), "sunset.png", alt="A red sky", **{"Idempotency-Key": KEY})
    assert first.status_code == 201
    again = alice.upload(png(), "sunset.png", alt="A red sky", **{"Idempotency-Key": KEY})
    assert again.status_code == 200
    assert again.get_json() == first.get_json()
    assert again.headers["Location"] == first.headers["Location"]
    assert _stored(app) == (1, 2)  # the picture and its thumbnail, once
    with app.app_context():
        assert attachment_uploads.used_bytes(alice.user_id) == first.get_json()["size"]


def test_a_repeat_answers_what_was_stored_whatever_its_body(app):
    # The key names the upload: a repeat's body is not read, so it cannot change it.
    alice = person(app, "alice")
    first = alice.upload(b"first bytes", "a.txt", **{"Idempotency-Key": KEY})
    again = alice.upload(b"other bytes, longer", "b.txt", **{"Idempotency-Key": KEY})
    assert again.status_code == 200
    assert again.get_json() == first.get_json()
    assert alice.get(first.get_json()["url"]).get_data() == b"first bytes"


def test_a_repeat_does_not_count_against_the_quota(make_app):
    app = make_app(ATTACHMENT_QUOTA_BYTES=1000)
    alice = person(app, "alice")
    assert alice.upload(b"a" * 1000, **{"Idempotency-Key": KEY}).status_code == 201
    again = alice.upload(b"a" * 1000, **{"Idempotency-Key": KEY})
    assert again.status_code == 200
    refused = alice.upload(b"a" * 1000, **{"Idempotency-Key": KEY + "-other"})
    assert refused.status_code == 413
    assert refused.get_json()["error"] == "quota_exceeded"


def test_a_repeat_takes_no_upload_token(make_app):
    app = make_app(UPLOAD_RATE=0.01, UPLOAD_BURST=1)
    alice = person(app, "alice")
    first = alice.upload(b"once", **{"Idempotency-Key": KEY})
    assert first.status_code == 201
    for _ in range(3):
        again = alice.upload(b"once", **{"Idempotency-Key": KEY})
        assert again.status_code == 200 and again.get_json() == first.get_json()
    assert alice.upload(b"new", **{"Idempotency-Key": KEY + "-new"}).status_code == 429


def test_a_sent_upload_still_answers_its_key(app):
    alice, bob = person(app, "alice"), person(app, "bob")
    first = alice.upload(b"report", "report.pdf", **{"Idempotency-Key": KEY})
    send_with(app, alice, bob, [first.get_json()["id"]])
    again = alice.upload(b"report", "report.pdf", **{"Idempotency-Key": KEY})
    assert again.status_code == 200
    assert again.get_json() == first.get_json()
    assert _stored(app) == (1, 1)


def test_a_key_is_the_uploaders_own(app):
    alice, bob = person(app, "alice"), person(app, "bob")
    hers = alice.upload(b"hers", **{"Idempotency-Key": KEY})
    his = bob.upload(b"his", **{"Idempotency-Key": KEY})
    assert his.status_code == 201
    assert his.get_json()["id"] != hers.get_json()["id"]
    assert bob.get(his.get_json()["url"]).get_data() == b"his"
    assert alice.upload(b"hers", **{"Idempotency-Key": KEY}).get_json() == hers.get_json()


def test_a_removed_upload_frees_its_key(app):
    alice = person(app, "alice")
    first = alice.upload(b"old", **{"Idempotency-Key": KEY})
    with app.app_context():
        assert attachments.purge_unsent(timedelta(0)) == 1
    again = alice.upload(b"new", **{"Idempotency-Key": KEY})
    assert again.status_code == 201
    assert again.get_json()["id"] != first.get_json()["id"]
    assert alice.get(again.get_json()["url"]).get_data() == b"new"


def test_without_a_key_every_post_is_a_new_upload(app):
    alice = person(app, "alice")
    first, second = alice.upload(b"same"), alice.upload(b"same")
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.get_json()["id"] != second.get_json()["id"]
    other = alice.upload(b"same", **{"Idempotency-Key": KEY})
    assert other.status_code == 201
    assert _stored(app) == (3, 3)


@pytest.mark.parametrize(
    "key",
    ["", " ", "x" * 201, "with space", "tab\there", "ctl\x01", "del\x7f", "café", "日本"],
    ids=["empty", "blank", "201-chars", "space", "tab", "control", "del", "latin-1", "cjk"],
)
def test_a_bad_key_is_refused_and_nothing_stored(app, key):
    response = person(app, "alice").upload(b"x", **{"Idempotency-Key": key})
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "invalid_payload"
    assert "Idempotency-Key" in body["detail"]
    assert _stored(app) == (0, 0)


@pytest.mark.parametrize("key", ["a", "x" * 200, "!~", "Zz09-_.:/+=", KEY])
def test_keys_of_visible_ascii_up_to_200_characters_are_taken(app, key):
    alice = person(app, "alice")
    assert alice.upload(b"x", **{"Idempotency-Key": key}).status_code == 201
    assert alice.upload(b"x", **{"Idempotency-Key": key}).status_code == 200


@pytest.mark.parametrize("blind", [False, True], ids=["seen-under-the-lock", "unique-index"])
def test_two_racing_posts_with_one_key_store_one_upload(app, monkeypatch, blind):
    """The second POST starts before the first has stored anything and ends first. Either
    the first sees its row once it holds the uploader's row, or (``blind``: as if that
    look-up came too early) the unique index refuses the first's insert; both answer the
    one upload."""
    alice = person(app, "alice")
    other_tab = Person(alice.user_id, alice.token, app.test_client())
    decode = attachment_images.offloaded
    look_up = attachment_uploads.by_key
    meanwhile = []

    def misses_once(uploader_id, key):
        monkeypatch.setattr(attachment_uploads, "by_key", look_up)
        return None

    def another_post_first(fn, *args):
        # The first POST has passed the early look-up; the second runs to its end now.
        if not meanwhile:
            meanwhile.append(None)  # the second POST decodes through here too
            meanwhile[0] = other_tab.upload(b"the file", **{"Idempotency-Key": KEY})
            if blind:
                monkeypatch.setattr(attachment_uploads, "by_key", misses_once)
        return decode(fn, *args)

    monkeypatch.setattr(attachment_images, "offloaded", another_post_first)
    first = alice.upload(b"the file", **{"Idempotency-Key": KEY})
    assert meanwhile[0].status_code == 201
    assert first.status_code == 200
    assert first.get_json() == meanwhile[0].get_json()
    assert attachment_uploads.by_key is look_up  # the blind look-up did happen
    assert _stored(app) == (1, 1)  # the first's chunk went with its transaction
