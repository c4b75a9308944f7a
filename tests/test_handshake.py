"""PROTOCOL.md A1/A2: the handshake, the session, and the order of the first events."""

from __future__ import annotations

import pytest


def test_username_creates_a_session_then_users_in_order(connect_as):
    alice = connect_as("alice")
    assert alice.names()[:2] == ["session", "users"]
    users = alice.first("users")
    assert [u["username"] for u in users] == ["alice"]
    me = users[0]
    assert me["userID"] == alice.user_id
    assert me["connected"] is True
    assert me["messages"] == []
    assert {"hasMore", "unread", "lastSeen"} <= me.keys()


def test_session_id_is_secret_sized_and_distinct_from_user_id(connect_as):
    alice = connect_as("alice")
    bob = connect_as("bob")
    for tab in (alice, bob):
        assert len(tab.session_id) >= 32  # 256 bits of token_urlsafe
        assert tab.session_id != tab.user_id
    assert alice.session_id != bob.session_id
    assert alice.user_id != bob.user_id


def test_resume_with_session_id_gives_same_user(connect_as):
    alice = connect_as("alice")
    alice.close()
    again = connect_as(session_id=alice.session_id)
    assert again.user_id == alice.user_id
    assert again.session_id == alice.session_id
    assert again.first("users")[0]["username"] == "alice"


def test_unknown_session_id_falls_back_to_username(connect_as):
    tab = connect_as("carol", session_id="not-a-session")
    assert tab.first("users")[0]["username"] == "carol"


@pytest.mark.parametrize(
    "auth",
    [
        None,
        {},
        {"sessionID": "unknown"},
        {"username": ""},
        {"username": "ab"},
        {"username": "x" * 33},
        {"username": "has space"},
        {"username": "<script>"},
        {"username": 42},
        {"username": None},
        {"username": ["alice"]},
        "alice",
        42,
        [1, 2],
    ],
    ids=repr,
)
def test_invalid_handshakes_are_refused_with_invalid_username(socket_client, auth):
    client = socket_client(auth=auth)
    assert not client.is_connected()
    assert client.connect_error == {"message": "invalid username"}


def test_user_id_is_not_a_session_id(connect_as, socket_client):
    alice = connect_as("alice")
    thief = socket_client(auth={"sessionID": alice.user_id})
    assert not thief.is_connected()
    assert thief.connect_error == {"message": "invalid username"}


def test_taken_username_is_refused_case_insensitively(connect_as, socket_client):
    connect_as("Alice")
    for name in (
        "Alice",
        "alice",
        "ALICE",
        "\uff21\uff4c\uff49\uff43\uff45",
    ):  # full-width: NFKC folds it
        client = socket_client(auth={"username": name})
        assert client.connect_error == {"message": "username taken"}, name


def test_protected_name_is_reclaimed_with_its_password(connect_as, socket_client):
    owner = connect_as("dave", password="correct horse")
    wrong = socket_client(auth={"username": "dave", "password": "wrong"})
    assert wrong.connect_error == {"message": "username taken"}
    again = connect_as("dave", password="correct horse")
    assert again.user_id == owner.user_id
    assert again.session_id != owner.session_id


def test_session_id_is_sent_to_its_owner_only(connect_as):
    bob = connect_as("bob")
    alice = connect_as("alice")
    alice.close()
    connect_as(session_id=alice.session_id)
    assert alice.session_id not in repr(bob.received())


def test_others_get_user_connected_with_empty_messages(connect_as):
    bob = connect_as("bob")
    bob.clear()
    alice = connect_as("alice")
    assert bob.received("user connected") == [
        {"userID": alice.user_id, "username": "alice", "connected": True, "messages": []}
    ]
    assert "user connected" not in alice.names()


def test_users_lists_self_first_then_by_name(connect_as):
    for name in ("mallory", "bob", "Carol"):
        connect_as(name)
    zed = connect_as("zed")
    assert [u["username"] for u in zed.first("users")] == ["zed", "bob", "Carol", "mallory"]
