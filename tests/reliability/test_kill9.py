"""No loss: kill -9 of a real server in the middle of acked sends, restart, every ack kept once."""

from __future__ import annotations

import random
import threading
from collections import Counter

import pytest

pytestmark = [
    pytest.mark.server,
    # python-engineio's client leaves its socket to the garbage collector when the server
    # vanishes under it; that is the client library's leak, not the server's.
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]

SENDERS = 3  # concurrent sending threads of alice, so several sends are in flight at a kill
PER_SENDER = 25
KILLS = 2


def test_every_acked_message_survives_kill_9_exactly_once(server_env, start_server, peers):
    server = start_server(server_env)
    bob = peers(server.url, username="bob")
    alice = peers(server.url, username="alice")
    acks: dict[str, dict] = {}
    lock = threading.Condition()
    errors: list[BaseException] = []

    def send_stream(peer, to, prefix, count):
        try:
            for i in range(count):
                client_id = f"{prefix}-{i}"
                ack = peer.send_until_acked(to, f"{prefix} message {i}", client_id)
                with lock:
                    acks[client_id] = ack["message"]
                    lock.notify_all()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
            with lock:
                lock.notify_all()

    threads = [
        threading.Thread(
            target=send_stream, args=(alice, bob.user_id, f"a{n}", PER_SENDER), daemon=True
        )
        for n in range(SENDERS)
    ]
    threads.append(
        threading.Thread(
            target=send_stream, args=(bob, alice.user_id, "b", PER_SENDER), daemon=True
        )
    )
    for t in threads:
        t.start()

    total = (SENDERS + 1) * PER_SENDER
    rng = random.Random()
    acked_at_kill = []
    for k in range(KILLS):
        # Kill at a random point of the stream, while sends are in flight.
        at = rng.randrange(total * k // (KILLS + 1) + 5, total * (k + 1) // (KILLS + 1))
        with lock:
            assert lock.wait_for(lambda at=at: len(acks) >= at or errors, timeout=60)
            acked_at_kill.append(len(acks))
        server.kill()
        server.start()

    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert len(acks) == total
    assert all(p.connects >= 1 + KILLS for p in (alice, bob))

    # A fresh tab of each user, after the last restart: the server's own view.
    for who, other in ((alice, bob), (bob, alice)):
        tab = peers(server.url, sessionID=who.session_id)
        history = tab.history(other.user_id)
        counts = Counter(m.get("clientId") for m in history)
        assert set(counts) == set(acks), "history differs from the acked messages"
        assert max(counts.values()) == 1, "a message is stored twice"
        by_client = {m["clientId"]: m for m in history}
        for client_id, acked in acks.items():
            assert by_client[client_id]["id"] == acked["id"]
            assert by_client[client_id]["content"] == acked["content"]
    print(f"acked at each kill: {acked_at_kill}; {total} acked, {total} stored once")
