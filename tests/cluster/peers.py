"""Clients for the cluster tests: a reconnecting tab, a sender that retries until acked."""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis
import socketio

from tests.cluster.conftest import REDIS_URL
from tests.servers import Remote


class Peer(Remote):
    """A Remote that, with ``reconnect``, comes back by itself with its sessionID.

    This is what a browser tab does when its server process goes away: the Socket.IO
    client reconnects (through nginx, to another process) and resumes its session.
    """

    def __init__(
        self,
        url: str | Callable[[], str],  # a callable is asked again on each reconnection
        transports: list[str] | None = None,
        reconnect: bool = False,
        **auth: Any,
    ):
        self.url = url
        self.events: list[tuple[str, Any]] = []
        self.cond = threading.Condition()
        self.connect_error: Any = None
        self.session_id: str | None = auth.get("sessionID")
        self.sessions = 0  # `session` events: 1 + the number of reconnections
        self.arrived: list[float] = []  # when each of `events` arrived
        self.drops = 0  # connections lost
        self._auth = auth
        self.sio = socketio.Client(
            reconnection=reconnect,
            reconnection_delay=0.2,
            reconnection_delay_max=1,
            randomization_factor=0.1,
        )
        self.sio.on("*", self._record)
        self.sio.on("connect_error", self._on_connect_error)
        self.sio.on("disconnect", self._on_disconnect)
        self.sio.connect(url, auth=self._credentials, transports=transports, wait_timeout=10)
        self.session = self.wait_for("session")
        self.user_id: str = self.session["userID"]

    def _credentials(self) -> dict[str, str]:
        # Called on every (re)connection: resume the session once there is one.
        return {"sessionID": self.session_id} if self.session_id else self._auth

    def _on_disconnect(self, *_reason: Any) -> None:
        # python-engineio leaves a WebSocket that the server dropped open (until garbage
        # collection warns about it); shut it now, before the client reconnects.
        ws = getattr(self.sio.eio, "ws", None)
        if ws is not None:
            ws.shutdown()
        with self.cond:
            self.drops += 1
            self.cond.notify_all()

    def _record(self, event: str, *args: Any) -> None:
        with self.cond:
            if event == "session":
                self.session_id = args[0]["sessionID"]
                self.sessions += 1
            self.events.append((event, args[0] if args else None))
            self.arrived.append(time.monotonic())
            self.cond.notify_all()

    def send_or_drop(self, to: str, content: str, timeout: float = 5, **extra: Any) -> Any:
        """Sends with an ack like a browser would: gives up at once if the connection drops.

        (python-socketio's ``call`` would wait out its whole timeout for an ack that can no
        longer come.) Returns the ack, or None.
        """
        acks: list[Any] = []

        def on_ack(*args: Any) -> None:
            with self.cond:
                acks.append(args[0] if args else None)
                self.cond.notify_all()

        drops = self.drops
        try:
            payload = {"content": content, "to": to, **extra}
            self.sio.emit("private message", payload, callback=on_ack)
        except socketio.exceptions.SocketIOError:
            return None
        with self.cond:
            self.cond.wait_for(lambda: acks or self.drops != drops, timeout)
            return acks[0] if acks else None

    def wait_connected(self, timeout: float = 20) -> None:
        """Returns once connected (at once, or on the `session` event of a reconnection)."""
        with self.cond:
            assert self.cond.wait_for(lambda: self.sio.connected, timeout), "not reconnected"

    def arrival(self, event: str, payload: Any) -> float:
        """When the first ``event`` with ``payload`` arrived (time.monotonic)."""
        with self.cond:
            pairs = zip(self.events, self.arrived, strict=True)
            return next(t for (e, p), t in pairs if (e, p) == (event, payload))

    def sid(self) -> str:
        """The Socket.IO sid of the current connection (the server's ``request.sid``)."""
        return self.sio.get_sid("/")


class Sender(threading.Thread):
    """Sends a steady stream of acknowledged messages; a send without an ack is retried.

    A retry reuses the clientId, so the server stores it once (PROTOCOL.md B2) whether the
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


def presence_sids(prefix: str, user_id: str) -> set[str]:
    """The sockets Redis presence holds for ``user_id``, on every process."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        return {s.decode() for s in client.hkeys(f"{prefix}presence:user:{user_id}")}
    finally:
        client.close()


def wait_until(check: Any, timeout: float = 10, what: str = "condition") -> None:
    """Polls ``check``: for server-side state that no client event reveals."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} not reached within {timeout}s"
        time.sleep(0.02)
