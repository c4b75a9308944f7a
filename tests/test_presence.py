"""PROTOCOL.md A2.5 and A4: who is online, across tabs."""

from __future__ import annotations


def test_second_tab_is_announced_to_others_and_own_tabs(connect_as):
    bob = connect_as("bob")
    alice = connect_as("alice")
    bob.clear()
    alice.clear()
    alice2 = connect_as(session_id=alice.session_id)
    for tab in (bob, alice):
        assert [u["userID"] for u in tab.received("user connected")] == [alice.user_id]
    assert alice2.received("user connected") == []


def test_closing_one_of_two_tabs_announces_nothing(connect_as):
    bob = connect_as("bob")
    alice = connect_as("alice")
    alice2 = connect_as(session_id=alice.session_id)
    bob.clear()
    alice2.close()
    assert bob.received("user disconnected") == []
    assert {u["userID"]: u["connected"] for u in connect_as("carol").first("users")}[
        alice.user_id
    ] is True


def test_closing_the_last_tab_announces_a_bare_user_id(connect_as):
    bob = connect_as("bob")
    alice = connect_as("alice")
    alice2 = connect_as(session_id=alice.session_id)
    alice2.close()
    bob.clear()
    alice.close()
    assert bob.received("user disconnected") == [alice.user_id]


def test_users_shows_who_is_connected_and_last_seen(connect_as):
    bob = connect_as("bob")
    alice = connect_as("alice")
    bob.close()
    carol = connect_as("carol")
    users = {u["username"]: u for u in carol.first("users")}
    assert users["alice"]["connected"] is True and users["alice"]["lastSeen"] is None
    assert users["bob"]["connected"] is False and users["bob"]["lastSeen"].endswith("Z")
    assert users["carol"]["connected"] is True
    assert alice.user_id in {u["userID"] for u in carol.first("users")}


def test_reconnect_after_last_tab_closed_is_announced_again(connect_as):
    bob = connect_as("bob")
    alice = connect_as("alice")
    alice.close()
    bob.clear()
    connect_as(session_id=alice.session_id)
    assert [u["userID"] for u in bob.received("user connected")] == [alice.user_id]
