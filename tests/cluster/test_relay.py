"""Two processes sharing Redis and PostgreSQL: messages and sessions cross between them."""

from __future__ import annotations

import pytest

from tests.support.environments import name
from tests.support.peer import Peer

pytestmark = pytest.mark.server


def test_messages_cross_both_ways_and_echo_to_the_senders_other_tab(pair):
    bob = Peer(pair.two.url, transports=["polling"], username=name("bob"))
    alice = Peer(pair.one.url, transports=["websocket"], username=name("alice"))
    alice2 = Peer(pair.two.url, transports=["websocket"], sessionID=alice.session_id)
    try:
        sent = alice.send(bob.user_id, "from process one")
        assert sent["ok"] is True
        mine = sent["message"]["id"]
        got = bob.wait_for("private message", lambda m: m["id"] == mine)
        assert got["content"] == "from process one" and got["from"] == alice.user_id
        echo = alice2.wait_for("private message", lambda m: m["id"] == mine)
        assert echo["to"] == bob.user_id

        reply = bob.send(alice.user_id, "from process two")
        theirs = reply["message"]["id"]
        for tab in (alice, alice2):
            assert tab.wait_for("private message", lambda m: m["id"] == theirs)["from"] == (
                bob.user_id
            )
        # A process delivers its own emits at once, before the ack: had process one echoed
        # alice's message to her sending socket, it would have come before bob's reply.
        assert [m["id"] for m in alice.received("private message")] == [theirs]
    finally:
        for tab in (alice, alice2, bob):
            tab.close()


def test_a_connection_on_one_process_is_announced_on_the_other(pair):
    watcher = Peer(pair.one.url, username=name("watch"))
    try:
        carol_name = name("carol")
        carol = Peer(pair.two.url, transports=["polling"], username=carol_name)
        announced = watcher.wait_for("user connected", lambda u: u["userID"] == carol.user_id)
        assert announced == {
            "userID": carol.user_id,
            "username": carol_name,
            "connected": True,
            "messages": [],
        }
        carol.close()
        assert watcher.wait_for("user disconnected", lambda u: u == carol.user_id)
    finally:
        watcher.close()


def test_a_session_resumes_on_the_other_process(pair):
    dave = Peer(pair.one.url, transports=["websocket"], username=name("dave"))
    dave.close()
    back = Peer(pair.two.url, transports=["polling"], sessionID=dave.session_id)
    try:
        assert back.user_id == dave.user_id
        assert back.session["sessionID"] == dave.session_id
        me = next(u for u in back.wait_for("users") if u["userID"] == dave.user_id)
        assert me["connected"] is True
    finally:
        back.close()


def test_a_message_to_an_offline_user_is_delivered_on_the_other_process(pair):
    erin = Peer(pair.two.url, username=name("erin"))
    erin.close()
    frank = Peer(pair.one.url, transports=["websocket"], username=name("frank"))
    try:
        sent = frank.send(erin.user_id, "while you were away")
        assert sent["ok"] is True
        back = Peer(pair.two.url, transports=["websocket"], sessionID=erin.session_id)
        try:
            users = {u["userID"]: u for u in back.wait_for("users")}
            waiting = users[frank.user_id]
            assert [m["id"] for m in waiting["messages"]] == [sent["message"]["id"]]
            assert waiting["messages"][0]["content"] == "while you were away"
            assert waiting["unread"] == 1 and waiting["connected"] is True
        finally:
            back.close()
    finally:
        frank.close()
