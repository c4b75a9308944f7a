"""PROTOCOL.md B3/B4/B5: paged history, unread counts, read state and typing."""

from __future__ import annotations

from tests.support.inprocess import open_tab


def send_many(sender, to, n, prefix="m"):
    return [sender.send(to, f"{prefix}{i}")["message"]["id"] for i in range(n)]


def test_users_carries_the_newest_page_and_has_more(make_app, socket_client):
    app = make_app(HISTORY_PAGE=3)
    bob = open_tab(app, username="bob")
    alice = open_tab(app, username="alice")
    ids = send_many(alice, bob.user_id, 5)
    again = open_tab(app, sessionID=bob.session_id)
    peer = {u["userID"]: u for u in again.first("users")}[alice.user_id]
    assert [m["id"] for m in peer["messages"]] == ids[-3:]
    assert peer["hasMore"] is True
    assert peer["unread"] == 5


def test_fetch_messages_pages_back_without_gaps_or_repeats(connect_as):
    bob = connect_as("bob")
    alice = connect_as("alice")
    ids = send_many(alice, bob.user_id, 7)
    seen, before = [], None
    while True:
        req = {"with": alice.user_id, "limit": 3}
        if before is not None:
            req["before"] = before
        ack = bob.emit("fetch messages", req)
        assert ack["ok"] is True
        page = [m["id"] for m in ack["messages"]]
        assert page == sorted(page)
        seen = page + seen
        if not ack["hasMore"]:
            break
        before = page[0]
    assert seen == ids


def test_fetch_messages_unknown_peer(connect_as):
    alice = connect_as("alice")
    ack = alice.emit("fetch messages", {"with": "nobody"})
    assert ack["ok"] is False and ack["error"] == "unknown_recipient"


def test_fetch_messages_only_returns_own_conversation(connect_as):
    bob = connect_as("bob")
    alice = connect_as("alice")
    carol = connect_as("carol")
    alice.send(bob.user_id, "private to bob")
    ack = carol.emit("fetch messages", {"with": alice.user_id})
    assert ack == {"ok": True, "messages": [], "hasMore": False}


def test_read_moves_forward_and_reaches_both_users_tabs(connect_as):
    bob = connect_as("bob")
    bob2 = connect_as(session_id=bob.session_id)
    alice = connect_as("alice")
    ids = send_many(alice, bob.user_id, 3)
    for tab in (bob, bob2, alice):
        tab.clear()
    assert bob.emit("read", {"with": alice.user_id, "upTo": ids[1]})["upTo"] == ids[1]
    expected = {"by": bob.user_id, "with": alice.user_id, "upTo": ids[1]}
    for tab in (bob, bob2, alice):
        assert tab.received("read") == [expected]
    # Backwards is a no-op, and the future is clamped to what was actually sent.
    assert bob.emit("read", {"with": alice.user_id, "upTo": ids[0]})["upTo"] is None
    assert bob.emit("read", {"with": alice.user_id, "upTo": 10**9})["upTo"] == ids[2]
    bob.close()
    bob2.close()
    back = connect_as(session_id=bob.session_id)
    assert {u["userID"]: u for u in back.first("users")}[alice.user_id]["unread"] == 0


def test_typing_is_relayed_to_peer_tabs_only(connect_as):
    bob = connect_as("bob")
    alice = connect_as("alice")
    carol = connect_as("carol")
    for tab in (bob, carol):
        tab.clear()
    assert alice.emit("typing", {"to": bob.user_id}) == {"ok": True}
    assert bob.received("typing") == [{"from": alice.user_id}]
    assert carol.received("typing") == []


def test_typing_is_rate_limited(make_app):
    app = make_app(TYPING_BURST=2, TYPING_RATE=0.001)
    bob = open_tab(app, username="bob")
    alice = open_tab(app, username="alice")
    acks = [alice.emit("typing", {"to": bob.user_id}) for _ in range(3)]
    assert [a["ok"] for a in acks] == [True, True, False]
    assert acks[2]["error"] == "rate_limited" and acks[2]["retryAfterMs"] > 0


def test_sends_are_rate_limited_per_user(make_app):
    app = make_app(SEND_BURST=3, SEND_RATE=0.001)
    bob = open_tab(app, username="bob")
    alice = open_tab(app, username="alice")
    acks = [alice.send(bob.user_id, f"m{i}") for i in range(4)]
    assert [a["ok"] for a in acks] == [True, True, True, False]
    assert acks[3]["error"] == "rate_limited"
    assert bob.send(alice.user_id, "bob has his own bucket")["ok"] is True
