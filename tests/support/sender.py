"""A steady stream of acknowledged messages from one Peer, each retried until acked."""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from typing import Any

from tests.support.peer import Peer


class Sender(threading.Thread):
    """Sends a steady stream of acknowledged messages; a send without an ack is retried.

    A retry reuses the clientId, so the server stores it once (protocol B2) whether the
    first attempt was lost before or after it was stored.
    """

    def __init__(self, peer: Peer, to: str, interval: float = 0.05):
        super().__init__(daemon=True)
        self.peer = peer
        self.to = to
        self.interval = interval
        self.acked: dict[str, dict[str, Any]] = {}  # clientId -> the stored message
        self.ack_times: list[float] = []
        self.attempts = 0
        self.retried = 0
        self.errors: list[Any] = []
        self._halt = threading.Event()

    def run(self) -> None:
        """Sends until stopped; each message is retried until its ack arrives."""
        n = 0
        while not self._halt.is_set():
            client_id = uuid.uuid4().hex
            content = f"{self.peer.user_id} #{n}"
            while True:
                self.attempts += 1
                # None: the connection dropped (or the ack never came) while the process left.
                ack = self.peer.send_or_drop(self.to, content, clientId=client_id)
                if ack and ack.get("ok"):
                    self.acked[client_id] = ack["message"]
                    self.ack_times.append(time.monotonic())
                    break
                if ack is not None:
                    self.errors.append(ack)  # the test fails on any: nothing is limited here
                self.retried += 1
                self.peer.wait_connected()
            n += 1
            self._halt.wait(self.interval)

    def longest_gap(self) -> float:
        """The longest time between two acks: how long this user could not send."""
        times = self.ack_times
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)

    def halt(self) -> None:
        """Asks the thread to stop after the message in progress."""
        self._halt.set()

    def stop(self) -> None:
        """Finishes the message in progress (until acked), then stops."""
        self.halt()
        self.join(30)
        assert not self.is_alive(), "a message was never acknowledged"
