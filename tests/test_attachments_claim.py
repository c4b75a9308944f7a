"""What the send path and the removals need: claim, for_messages, content, removing bytes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from chat import admin, attachments, store
from chat.attachment_models import Attachment, AttachmentChunk
from chat.extensions import db
from tests.attachments_support import person, png, send_with


def _chunks(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(AttachmentChunk))


@pytest.fixture
def people(app):
    return person(app, "alice"), person(app, "bob"), person(app, "carol")


def _message(app, sender, recipient) -> int:
    with app.app_context():
        return store.save_message(sender.user_id, recipient.user_id, "x", None).message.id


@pytest.mark.parametrize(
    ("ids", "error"),
    [
        ("not a list", attachments.InvalidAttachments),
        ([1, 2], attachments.InvalidAttachments),
        ([""], attachments.InvalidAttachments),
        (["a"] * 2, attachments.InvalidAttachments),
        ([f"id{i}" for i in range(11)], attachments.InvalidAttachments),
        (["no-such-upload"], attachments.UnknownAttachment),
    ],
)
def test_claim_refuses_bad_ids(app, people, ids, error):
    alice, bob, _ = people
    message_id = _message(app, alice, bob)
    with app.app_context(), pytest.raises(error) as refused:
        attachments.claim(alice.user_id, bob.user_id, ids, message_id)
    assert refused.value.code == error.code


def test_claim_refuses_someone_elses_upload_and_one_already_sent(app, people):
    alice, bob, carol = people
    mine = alice.upload(b"a", "a.txt").get_json()["id"]
    theirs = carol.upload(b"c", "c.txt").get_json()["id"]
    message_id = _message(app, alice, bob)
    with app.app_context():
        with pytest.raises(attachments.UnknownAttachment):
            attachments.claim(alice.user_id, bob.user_id, [mine, theirs], message_id)
        db.session.rollback()  # what the send path does: nothing is claimed
        assert db.session.get(Attachment, mine).message_id is None
    send_with(app, alice, bob, [mine])
    again = _message(app, alice, bob)
    with app.app_context(), pytest.raises(attachments.UnknownAttachment):
        attachments.claim(alice.user_id, bob.user_id, [mine], again)


def test_claimed_attachments_are_listed_per_message_in_order(app, people):
    alice, bob, _ = people
    first = alice.upload(png(40, 30), "one.png").get_json()
    second = alice.upload(b"doc", "two.pdf").get_json()
    with app.app_context():
        saved = store.save_message(alice.user_id, bob.user_id, "", None).message.id
        content = attachments.content_for(alice.user_id, [second["id"], first["id"], "nope"])
        wire = attachments.claim(alice.user_id, bob.user_id, [second["id"], first["id"]], saved)
        db.session.commit()
    assert content == "two.pdf, one.png"
    assert wire == [second, first]
    assert first["width"] == 40 and first["height"] == 30 and "width" not in second
    plain = _message(app, alice, bob)
    with app.app_context():
        listed = attachments.for_messages([saved, plain, 999_999])
        assert attachments.for_messages([]) == {}
    assert listed == {saved: [second, first]}


def test_removing_a_messages_attachments_erases_rows_and_bytes(app, people):
    alice, bob, _ = people
    body = alice.upload(png(), "p.png").get_json()
    message_id = send_with(app, alice, bob, [body["id"]])
    assert _chunks(app) == 2  # the file and its thumbnail
    with app.app_context():
        assert attachments.remove_for_messages([message_id]) == 1
        db.session.commit()
    assert _chunks(app) == 0
    assert bob.get(body["url"]).status_code == 404
    assert alice.get(body["url"]).status_code == 404


def test_unsent_uploads_are_purged_after_a_day(app, people):
    alice, bob, _ = people
    old = alice.upload(b"old", "old.txt").get_json()["id"]
    sent = alice.upload(b"sent", "sent.txt").get_json()["id"]
    fresh = alice.upload(b"new", "new.txt").get_json()["id"]
    send_with(app, alice, bob, [sent])
    with app.app_context():
        for attachment_id in (old, sent):
            db.session.get(Attachment, attachment_id).created_at -= timedelta(days=2)
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["purge-attachments"])
    assert result.exit_code == 0, result.output
    assert "removed 1 unsent attachments" in result.output
    with app.app_context():
        assert {a.id for a in db.session.scalars(select(Attachment))} == {sent, fresh}
    assert _chunks(app) == 2


def test_housekeeping_sweeps_in_the_background(make_app):
    app = make_app(ATTACHMENT_UNSENT_TTL_S=0.0, ATTACHMENT_SWEEP_S=60.0)
    person(app, "alice").upload(b"gone", "gone.txt")
    tasks: list = []
    sleeps: list[float] = []

    class Stop(Exception):
        pass

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:
            raise Stop  # the loop's second sleep: one sweep is done

    attachments.start_housekeeping(app, tasks.append, sleep)
    attachments.start_housekeeping(app, tasks.append, sleep)  # idempotent
    assert len(tasks) == 1
    with pytest.raises(Stop):
        tasks[0]()  # run the loop here instead of in a background task
    assert 0 <= sleeps[0] <= 60 and sleeps[1] == 60  # a random phase, then the period
    assert _chunks(app) == 0


def test_remove_user_erases_their_uploads(app, people):
    alice, bob, _ = people
    sent = alice.upload(b"sent", "s.txt").get_json()
    alice.upload(b"draft", "d.txt")
    received = bob.upload(b"to alice", "r.txt").get_json()
    send_with(app, alice, bob, [sent["id"]])
    send_with(app, bob, alice, [received["id"]])
    with app.app_context():
        admin.remove_user(alice.user_id)
        assert [a.id for a in db.session.scalars(select(Attachment))] == [received["id"]]
    assert _chunks(app) == 1
    assert bob.get(sent["url"]).status_code == 404


def test_purge_messages_erases_their_attachments(app, people):
    alice, bob, _ = people
    body = alice.upload(b"old file", "o.txt").get_json()
    message_id = send_with(app, alice, bob, [body["id"]])
    with app.app_context():
        from chat.models import Message

        db.session.get(Message, message_id).created_at -= timedelta(days=40)
        db.session.commit()
        assert admin.purge_messages(30) == (1, 0)
        assert db.session.scalar(select(func.count()).select_from(Attachment)) == 0
    assert _chunks(app) == 0
