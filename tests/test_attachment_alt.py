"""An image's alt text (docs/protocol.md "Choices"): the optional upload part ``alt``, stored
and carried as the entry's ``alt`` wherever the message goes; absent when none was written."""

from __future__ import annotations

import pytest

from chat.attachment_models import Attachment
from chat.extensions import db
from tests.attachments_support import person, png


@pytest.fixture
def people(app, connect_as):
    """alice with an HTTP session (uploads) and a tab; bob with a tab."""
    alice_http = person(app, "alice")
    return alice_http, connect_as(session_id=alice_http.token), connect_as("bob")


def test_the_written_alt_travels_with_the_message(people):
    alice_http, alice, bob = people
    image = alice_http.upload(png(40, 30), "IMG_2231.png", alt="  A red square at dusk ").get_json()
    assert image["alt"] == "A red square at dusk"  # the ends' white space trimmed
    bob.clear()

    message = alice.send(bob.user_id, "", attachments=[image["id"]])["message"]

    assert message["attachments"] == [image]
    assert bob.received("private message") == [message]
    assert bob.emit("fetch messages", {"with": alice.user_id})["messages"] == [message]


@pytest.mark.parametrize("alt", [None, "", "   \t "], ids=["absent", "empty", "white space"])
def test_no_written_alt_leaves_the_entry_without_one(people, alt):
    alice_http, alice, bob = people
    image = alice_http.upload(png(), "cat.png", alt=alt).get_json()
    assert "alt" not in image
    message = alice.send(bob.user_id, "", attachments=[image["id"]])["message"]
    assert "alt" not in message["attachments"][0]


@pytest.mark.parametrize(
    "alt", ["x" * 1001, "two\nlines", "a\x00b"], ids=["too long", "newline", "nul"]
)
def test_a_bad_alt_gets_400_and_stores_nothing(app, alt):
    response = person(app, "alice").upload(png(), "cat.png", alt=alt)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_payload"
    with app.app_context():
        assert db.session.query(Attachment).count() == 0


def test_the_longest_alt_is_kept_whole(app):
    alt = "é" * 1000
    assert person(app, "alice").upload(png(), "cat.png", alt=alt).get_json()["alt"] == alt
