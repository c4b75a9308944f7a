"""Two processes on Redis: edits, deletes and attachment messages reach every tab of both users."""

from __future__ import annotations

import pytest
import requests

from tests.support.environments import name
from tests.support.peer import Peer

pytestmark = pytest.mark.server


@pytest.fixture
def tabs(pair):
    """alice on process one (and a second tab on two), bob on two (and a second tab on one)."""
    alice = Peer(pair.one.url, transports=["websocket"], username=name("alice"))
    bob = Peer(pair.two.url, transports=["polling"], username=name("bob"))
    alice2 = Peer(pair.two.url, transports=["websocket"], sessionID=alice.session_id)
    bob2 = Peer(pair.one.url, transports=["websocket"], sessionID=bob.session_id)
    yield alice, alice2, bob, bob2
    for tab in (alice, alice2, bob, bob2):
        tab.close()


def test_an_edit_and_a_delete_reach_every_other_tab_across_processes(tabs):
    alice, alice2, bob, bob2 = tabs
    sent = alice.send(bob.user_id, "helo")["message"]
    edited = alice.sio.call("edit message", {"id": sent["id"], "content": "hello"}, timeout=10)
    assert edited["ok"] is True
    for tab in (alice2, bob, bob2):
        got = tab.wait_for("message edited", lambda e: e["id"] == sent["id"])
        assert got["content"] == "hello" and got["editedAt"] == edited["message"]["editedAt"]

    deleted = bob.send(alice.user_id, "take this back")["message"]
    ack = bob.sio.call("delete message", {"id": deleted["id"]}, timeout=10)
    assert ack == {"ok": True, "id": deleted["id"]}
    event = {"id": deleted["id"], "from": bob.user_id, "to": alice.user_id}
    for tab in (alice, alice2, bob2):
        assert tab.wait_for("message deleted", lambda e: e["id"] == deleted["id"]) == event
    # The editing and deleting sockets hear nothing of their own change.
    assert alice.received("message edited") == [] and bob.received("message deleted") == []


def test_an_attachment_message_is_delivered_across_processes(pair, tabs):
    alice, alice2, bob, bob2 = tabs
    auth = {"Authorization": f"Bearer {alice.session_id}"}
    upload = requests.post(
        pair.one.url + "/api/attachments",
        files={"file": ("plan.pdf", b"%PDF-1.4 not really")},
        headers=auth,
        timeout=10,
    )
    assert upload.status_code == 201, upload.text
    info = upload.json()
    sent = alice.send(bob.user_id, "", attachments=[info["id"]])
    assert sent["ok"] is True and sent["message"]["attachments"] == [info]
    for tab in (alice2, bob, bob2):
        got = tab.wait_for("private message", lambda m: m["id"] == sent["message"]["id"])
        assert got == sent["message"]
    # The recipient downloads it from the other process.
    bytes_ = requests.get(
        pair.two.url + info["url"],
        headers={"Authorization": f"Bearer {bob.session_id}"},
        timeout=10,
    )
    assert bytes_.status_code == 200 and bytes_.content == b"%PDF-1.4 not really"


def _until(tab: Peer, event: str, user_id: str, times: int) -> None:
    """Waits until ``tab`` has heard ``event`` about ``user_id`` ``times`` times."""

    def about(payload) -> bool:
        return (payload["userID"] if isinstance(payload, dict) else payload) == user_id

    with tab.cond:
        assert tab.cond.wait_for(
            lambda: sum(1 for e, p in tab.events if e == event and about(p)) == times, 10
        ), tab.events


def test_a_blocked_user_on_the_other_process_hears_nothing_of_the_blocker(pair):
    bob = Peer(pair.two.url, username=name("bob"))
    carol = Peer(pair.two.url, username=name("carol"))  # beside bob: same deliveries
    alice = Peer(pair.one.url, username=name("alice"))
    try:
        _until(bob, "user connected", alice.user_id, 1)  # before the block
        assert alice.sio.call("block", {"userID": bob.user_id}, timeout=10)["blocked"] is True
        alice.close()
        back = Peer(pair.one.url, sessionID=alice.session_id)
        back.close()
        _until(carol, "user connected", alice.user_id, 2)
        _until(carol, "user disconnected", alice.user_id, 2)
        # One message-queue delivery serves both of process two's sockets: had bob been in
        # the audience, he would have heard it by the time carol did.
        heard = [u["userID"] for u in bob.received("user connected")]
        assert heard.count(alice.user_id) == 1
        # Of the blocker only: the pair of servers is shared with other tests, whose users'
        # comings and goings bob may well hear.
        assert alice.user_id not in bob.received("user disconnected")
        assert bob.send(alice.user_id, "hello?")["error"] == "blocked"
    finally:
        for tab in (alice, bob, carol):
            tab.close()
