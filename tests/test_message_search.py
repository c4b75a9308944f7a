"""PROTOCOL.md B9: ``search messages`` finds words in one's own conversations, newest first."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from chat.extensions import db
from tests.support.inprocess import open_tab


def search(tab, q, **extra):
    """Runs a search that must succeed and returns its ack."""
    ack = tab.emit("search messages", {"q": q, **extra})
    assert ack["ok"] is True, ack
    return ack


def contents(ack):
    return [m["content"] for m in ack["messages"]]


def sql(app, statement, **params):
    with app.app_context():
        db.session.execute(text(statement), params)
        db.session.commit()


@pytest.fixture
def people(connect_as):
    bob, alice, carol = connect_as("bob"), connect_as("alice"), connect_as("carol")
    return bob, alice, carol


def test_matches_are_own_messages_sent_or_received_newest_first(people):
    bob, alice, carol = people
    first = alice.send(bob.user_id, "lunch at noon?")["message"]
    second = bob.send(alice.user_id, "Lunch sounds good")["message"]
    carol.send(bob.user_id, "lunch tomorrow")
    bob.send(alice.user_id, "see you")
    ack = search(alice, "lunch")
    assert [m["id"] for m in ack["messages"]] == [second["id"], first["id"]]
    assert ack["hasMore"] is False
    # The full message object of B6, as in history.
    assert ack["messages"][1] == first


def test_other_peoples_conversations_never_match(people):
    bob, alice, carol = people
    alice.send(bob.user_id, "secret plans")
    assert search(carol, "secret")["messages"] == []
    assert search(carol, "secret", **{"with": alice.user_id})["messages"] == []
    assert search(carol, "secret", **{"with": bob.user_id})["messages"] == []


def test_every_word_of_q_must_begin_a_word_of_the_message(people):
    bob, alice, _ = people
    alice.send(bob.user_id, "the quick brown fox")
    alice.send(bob.user_id, "a quick reply")
    assert contents(search(bob, "qui")) == ["a quick reply", "the quick brown fox"]
    assert contents(search(bob, "QUICK bro")) == ["the quick brown fox"]
    assert contents(search(bob, "fox, quick!")) == ["the quick brown fox"]
    assert search(bob, "uick")["messages"] == []  # inside a word is no match
    assert search(bob, "quick cat")["messages"] == []


@pytest.mark.parametrize(
    ("content", "q"),
    [
        ("Rendez-vous à l'ÉCOLE", "école"),
        ("rendez-vous à l'école", "ÉCO"),
        ("Привет, МИР", "мир"),
        ("ΚΑΛΗΜΕΡΑ", "καλημ"),
        ("東京 駅", "東京"),
        ("room 101b", "101"),
        ("e\u0301cole", "école"),  # decomposed e + accent: the same word (NFC)
        ("snake_case word", "case"),  # underscore separates words
    ],
)
def test_unicode_words_compare_case_insensitively(people, content, q):
    bob, alice, _ = people
    alice.send(bob.user_id, content)
    assert contents(search(bob, q)) == [content]


def test_with_restricts_to_one_conversation(people):
    bob, alice, carol = people
    alice.send(bob.user_id, "meeting at five")
    carol.send(bob.user_id, "meeting moved")
    bob.send(bob.user_id, "meeting notes to self")
    assert contents(search(bob, "meeting", **{"with": alice.user_id})) == ["meeting at five"]
    assert contents(search(bob, "meeting", **{"with": bob.user_id})) == ["meeting notes to self"]
    assert len(search(bob, "meeting")["messages"]) == 3


def test_before_and_limit_page_back_without_gaps_or_repeats(people):
    bob, alice, _ = people
    ids = [alice.send(bob.user_id, f"report {i}")["message"]["id"] for i in range(7)]
    alice.send(bob.user_id, "unrelated")
    seen, before = [], None
    while True:
        req = {"limit": 3} if before is None else {"limit": 3, "before": before}
        ack = search(bob, "report", **req)
        page = [m["id"] for m in ack["messages"]]
        assert page == sorted(page, reverse=True) and len(page) <= 3
        seen += page
        if not ack["hasMore"]:
            break
        before = page[-1]
    assert seen == ids[::-1]


def test_limit_defaults_to_20(people):
    bob, alice, _ = people
    for i in range(21):
        alice.send(bob.user_id, f"ping {i}")
    ack = search(bob, "ping")
    assert len(ack["messages"]) == 20 and ack["hasMore"] is True
    assert contents(search(bob, "ping", limit=50))[-1] == "ping 0"


def test_a_deleted_message_no_longer_matches(app, people):
    bob, alice, _ = people
    gone = alice.send(bob.user_id, "delete me please")["message"]["id"]
    erased = alice.send(bob.user_id, "erase me please")["message"]["id"]
    alice.send(bob.user_id, "keep me please")
    sql(app, "DELETE FROM messages WHERE id = :id", id=gone)
    sql(app, "UPDATE messages SET content = '' WHERE id = :id", id=erased)
    assert contents(search(bob, "please")) == ["keep me please"]
    assert search(alice, "me")["messages"][0]["content"] == "keep me please"
    assert len(search(alice, "me")["messages"]) == 1


def test_an_edited_message_matches_its_new_words_only(app, people):
    bob, alice, _ = people
    edited = alice.send(bob.user_id, "see you tuesday")["message"]["id"]
    sql(app, "UPDATE messages SET content = 'see you wednesday' WHERE id = :id", id=edited)
    assert search(bob, "tues")["messages"] == []
    assert contents(search(bob, "wednes")) == ["see you wednesday"]
    assert contents(search(alice, "wednes")) == ["see you wednesday"]


def test_an_unknown_with_is_unknown_recipient(people):
    bob, _, _ = people
    ack = bob.emit("search messages", {"q": "hi", "with": "nobody"})
    assert ack["ok"] is False and ack["error"] == "unknown_recipient"


@pytest.mark.parametrize(
    "payload",
    [
        None,
        "hello",
        [],
        {},
        {"q": ""},
        {"q": "   "},
        {"q": "?!… --"},  # no letter or digit: no word
        {"q": "_"},
        {"q": "a" * 201},
        {"q": 5},
        {"q": ["hello"]},
        {"q": "hi", "with": 7},
        {"q": "hi", "with": ""},
        {"q": "hi", "before": "5"},
        {"q": "hi", "before": -1},
        {"q": "hi", "before": 1.5},
        {"q": "hi", "before": True},
        {"q": "hi", "limit": 0},
        {"q": "hi", "limit": 51},
        {"q": "hi", "limit": "5"},
        {"q": "", "with": "nobody"},  # invalid_payload comes before unknown_recipient
        {"q": "nul\x00sep"},  # no string of any event may hold NUL (PROTOCOL.md B6)
    ],
)
def test_bad_input_is_invalid_payload(people, payload):
    bob, _, _ = people
    ack = bob.emit("search messages", payload)
    assert ack["ok"] is False and ack["error"] == "invalid_payload", ack
    assert isinstance(ack["detail"], str)


def test_q_of_200_characters_is_accepted(people):
    bob, alice, _ = people
    word = "ж" * 200
    alice.send(bob.user_id, f"long {word}")
    assert contents(search(bob, word)) == [f"long {word}"]


def test_search_is_rate_limited(make_app):
    app = make_app(SEARCH_BURST=2, SEARCH_RATE=0.001)
    bob = open_tab(app, username="bob")
    acks = [bob.emit("search messages", {"q": "x"}) for _ in range(3)]
    assert [a["ok"] for a in acks] == [True, True, False]
    assert acks[2]["error"] == "rate_limited" and acks[2]["retryAfterMs"] > 0
