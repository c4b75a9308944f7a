"""Bounded work per connection: the capped users list, presence beyond the cap, unread counts
kept per conversation, and a fixed number of statements per connect (docs/performance.md)."""

from __future__ import annotations

from chat import roster, store
from chat.services import services
from tests.support.inprocess import open_tab


def names(tab):
    return [u["username"] for u in tab.first("users")]


def test_users_is_capped_and_keeps_self_then_contacts_then_online_then_by_name(make_app):
    app = make_app(USERS_LIST_LIMIT=4)
    # Offline users whose names sort first: the cap must not let them push out the others.
    for name in ("aaa1", "aaa2", "aaa3"):
        open_tab(app, username=name).close()
    zed = open_tab(app, username="zed")
    yan = open_tab(app, username="yan")  # online, no conversation
    xena = open_tab(app, username="xena")
    zed.send(xena.user_id, "hello")
    xena.close()  # a contact, offline
    me = open_tab(app, sessionID=zed.session_id)
    listed = me.first("users")
    assert [u["username"] for u in listed] == ["zed", "aaa1", "xena", "yan"]
    assert len(listed) == 4
    by_name = {u["username"]: u for u in listed}
    assert by_name["xena"]["connected"] is False and by_name["xena"]["lastSeen"]
    assert [m["content"] for m in by_name["xena"]["messages"]] == ["hello"]
    assert by_name["yan"]["connected"] is True
    assert yan.user_id in {u["userID"] for u in listed}


def test_recent_conversations_win_over_older_ones_at_the_cap(make_app):
    app = make_app(USERS_LIST_LIMIT=3)
    me = open_tab(app, username="me_user")
    peers = [open_tab(app, username=f"peer{i}") for i in range(4)]
    for peer in peers:
        me.send(peer.user_id, f"to {peer.user_id}")
        peer.close()
    me.close()
    again = open_tab(app, sessionID=me.session_id)
    # Self, then the two most recent conversations (peer3, peer2), listed by name.
    assert names(again) == ["me_user", "peer2", "peer3"]


def test_unread_counts_follow_sends_and_reads(connect_as):
    bob = connect_as("bob")
    alice = connect_as("alice")
    ids = [alice.send(bob.user_id, f"m{i}")["message"]["id"] for i in range(4)]
    bob.send(alice.user_id, "a reply is never unread for its sender")
    bob.send(bob.user_id, "a note to self is never unread")
    assert bob.emit("read", {"with": alice.user_id, "upTo": ids[1]})["upTo"] == ids[1]
    again = connect_as(session_id=bob.session_id)
    users = {u["userID"]: u for u in again.first("users")}
    assert users[alice.user_id]["unread"] == 2
    assert users[bob.user_id]["unread"] == 0
    assert [m["content"] for m in users[bob.user_id]["messages"]] == [
        "a note to self is never unread"
    ]
    back = connect_as(session_id=alice.session_id)
    assert {u["userID"]: u for u in back.first("users")}[bob.user_id]["unread"] == 1


def test_presence_goes_to_everyone_up_to_the_cap_then_to_contacts_only(make_app):
    app = make_app(USERS_LIST_LIMIT=2)
    bob = open_tab(app, username="bob")
    carol = open_tab(app, username="carol")  # two online: still everyone hears everyone
    assert [u["username"] for u in bob.received("user connected")] == ["carol"]
    alice = open_tab(app, username="alice")
    alice.send(bob.user_id, "we have a conversation")
    alice.close()
    for tab in (bob, carol):
        tab.clear()
    open_tab(app, sessionID=alice.session_id)  # three online: over the cap of 2
    assert [u["username"] for u in bob.received("user connected")] == ["alice"]
    assert carol.received("user connected") == []


def test_last_tab_closing_beyond_the_cap_is_announced_to_contacts_only(make_app):
    app = make_app(USERS_LIST_LIMIT=2)
    bob = open_tab(app, username="bob")
    carol = open_tab(app, username="carol")
    open_tab(app, username="dave")  # with alice gone, three are still online: over the cap
    alice = open_tab(app, username="alice")
    alice.send(bob.user_id, "hi")
    bob.clear()
    carol.clear()
    alice.close()
    assert bob.received("user disconnected") == [alice.user_id]
    assert carol.received("user disconnected") == []


def test_first_message_introduces_the_sender_to_the_recipient(connect_as):
    bob = connect_as("bob")
    alice = connect_as("alice")
    bob.clear()
    alice.send(bob.user_id, "first")
    alice.send(bob.user_id, "second")
    intro = {"userID": alice.user_id, "username": "alice", "connected": True, "messages": []}
    assert bob.received("user connected") == [intro]
    # The introduction comes before the message it introduces.
    assert bob.names()[:2] == ["user connected", "private message"]
    # A note to self introduces nobody.
    alice.clear()
    alice.send(alice.user_id, "note")
    assert alice.received("user connected") == []


def test_users_payload_runs_a_fixed_number_of_statements(app, count_statements):
    """The work of a connect does not grow with the conversations or the stored messages."""

    def statements_for(contacts: int, per_conversation: int) -> int:
        with app.app_context():
            me, _ = store.login(f"probe{contacts}x{per_conversation}")
            for i in range(contacts):
                peer, _ = store.login(f"peer{contacts}x{per_conversation}n{i}")
                for k in range(per_conversation):
                    store.save_message(peer.user_id, me.user_id, f"m{k}", None)
            presence = services(app).presence
            with count_statements() as counter:
                users = roster.users_list(me.user_id, presence, page=3, limit=200)
            assert sum(len(u["messages"]) for u in users) == contacts * min(3, per_conversation)
            return len(counter.statements)

    # Contacts, the listed users with their read marks, the conversations' newest pages,
    # the blocks between the user and the listed ones, the attachments of the pages.
    assert statements_for(1, 1) == statements_for(30, 10) == statements_for(5, 40) == 5
