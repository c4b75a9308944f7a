"""The test client of a real server: one python-socketio tab that records what it receives.

With ``reconnect`` it comes back by itself and resumes its session (a callable auth is asked
again on every reconnection), as a browser tab does when its server process goes away.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import socketio

# How soon a reconnecting Peer tries again (python-socketio's settings): first delay, cap,
# and randomisation. Fast enough for a test to see a rolling restart through.
RECONNECT_DELAYS = (0.2, 1.0, 0.1)
# How long a connection attempt waits for the server's answer (its `connect` handler): 10 s,
# as socket.io-client's default `timeout` of 20 s is for a browser's every attempt.
CONNECT_TIMEOUT = 10


class _Client(socketio.Client):
    """python-socketio's client, waiting as long for a reconnection as for the first connect.

    Its reconnection loop calls ``connect`` with the default ``wait_timeout`` of 1 s. A server
    that takes longer to run its ``connect`` handler (a loaded machine, a process that has just
    started and is taking over the users of another) sees the client close and come back, and
    everyone else sees that user leave and return. A browser would have waited.
    """

    def connect(self, *args: Any, wait_timeout: float = CONNECT_TIMEOUT, **kwargs: Any) -> None:
        super().connect(*args, wait_timeout=wait_timeout, **kwargs)


class Peer:
    """One user's tab on a real server: records every event, resumes with its sessionID."""

    def __init__(
        self,
        url: str | Callable[[], str],  # a callable is asked again on each reconnection
        transports: list[str] | None = None,
        reconnect: bool = False,
        delays: tuple[float, float, float] = RECONNECT_DELAYS,
        **auth: Any,
    ) -> None:
        self.url = url
        self.events: list[tuple[str, Any]] = []
        self.arrived: list[float] = []  # when each of `events` arrived (time.monotonic)
        self.cond = threading.Condition()
        self.online = threading.Event()
        self.connect_error: Any = None
        self.connects = 0  # connections made: 1 + the number of reconnections
        self.sessions = 0  # `session` events: 1 + the number of reconnections
        self.drops = 0  # connections lost
        self.session_id: str | None = auth.get("sessionID")
        self._auth = auth
        first, most, jitter = delays
        self.sio = _Client(
            reconnection=reconnect,
            reconnection_delay=first,
            reconnection_delay_max=most,
            randomization_factor=jitter,
        )
        self.sio.on("*", self._record)
        self.sio.on("connect", self._on_connect)
        self.sio.on("connect_error", self._on_connect_error)
        self.sio.on("disconnect", self._on_disconnect)
        self.sio.connect(url, auth=self._credentials, transports=transports)
        self.session = self.wait_for("session")
        self.user_id: str = self.session["userID"]

    def _credentials(self) -> dict[str, Any] | None:
        # Called on every (re)connection: resume the session once there is one, never log
        # in twice.
        return {"sessionID": self.session_id} if self.session_id else self._auth or None

    def _record(self, event: str, *args: Any) -> None:
        with self.cond:
            if event == "session":
                self.session_id = args[0]["sessionID"]
                self.sessions += 1
            self.events.append((event, args[0] if args else None))
            self.arrived.append(time.monotonic())
            self.cond.notify_all()

    def _on_connect(self) -> None:
        with self.cond:
            self.connects += 1
            self.online.set()
            self.cond.notify_all()

    def _on_connect_error(self, data: Any) -> None:
        self.connect_error = data

    def _on_disconnect(self, reason: Any = None) -> None:
        self.online.clear()
        # python-engineio leaves a WebSocket that the server dropped open (until garbage
        # collection warns about it); shut it now, before the client reconnects. Not when
        # this side closes: python-engineio sends the CLOSE packet and the closing frame after
        # this handler, and a socket shut under them would leave the server to find out
        # by its ping, 25 s later.
        ws = getattr(self.sio.eio, "ws", None)
        if ws is not None and reason != self.sio.reason.CLIENT_DISCONNECT:
            ws.shutdown()
        with self.cond:
            self.drops += 1
            self.cond.notify_all()

    def wait_for(
        self, event: str, where: Callable[[Any], bool] = lambda _: True, timeout: float = 10
    ) -> Any:
        """Blocks until an ``event`` matching ``where`` has arrived; returns its payload."""

        def match() -> Any:
            return next((p for e, p in self.events if e == event and where(p)), None)

        with self.cond:
            assert self.cond.wait_for(lambda: match() is not None, timeout), (
                f"no {event!r} within {timeout}s; got {[e for e, _ in self.events][-20:]}"
            )
            return match()

    def received(self, event: str) -> list[Any]:
        """Payloads of ``event`` received so far."""
        with self.cond:
            return [p for e, p in self.events if e == event]

    def arrival(self, event: str, payload: Any) -> float:
        """When the first ``event`` with ``payload`` arrived (time.monotonic)."""
        with self.cond:
            pairs = zip(self.events, self.arrived, strict=True)
            return next(t for (e, p), t in pairs if (e, p) == (event, payload))

    def call(self, event: str, data: Any, timeout: float = 10) -> Any:
        """One emit with an ack, no retry; returns the ack."""
        return self.sio.call(event, data, timeout=timeout)

    def send(self, to: str, content: str, timeout: float = 10, **extra: Any) -> Any:
        """Sends a private message and waits for its ack."""
        return self.call("private message", {"content": content, "to": to, **extra}, timeout)

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

    def send_until_acked(
        self, to: str, content: str, client_id: str | None = None, deadline_s: float = 60
    ) -> dict[str, Any]:
        """Sends with a clientId and re-sends the same one after any failure, until acked ok.

        This is what a careful client does around a server crash: the first attempt may have
        been stored with its ack lost, so only the clientId keeps the retry from duplicating.
        """
        client_id = client_id or uuid.uuid4().hex
        payload = {"content": content, "to": to, "clientId": client_id}
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            if not self.online.wait(timeout=max(0.0, deadline - time.monotonic())):
                break
            try:
                ack = self.sio.call("private message", payload, timeout=3)
            except socketio.exceptions.SocketIOError:
                continue  # disconnected or no ack in time: the same clientId goes again
            if ack.get("ok"):
                return ack
            if ack.get("error") not in ("unavailable", "rate_limited"):
                raise AssertionError(f"refused: {ack}")
        raise AssertionError(f"no ok ack for {client_id} within {deadline_s}s")

    def history(self, peer_id: str, page: int = 200) -> list[dict[str, Any]]:
        """The whole conversation with ``peer_id``, oldest first, paged back from the newest."""
        messages: list[dict[str, Any]] = []
        before = None
        while True:
            req: dict[str, Any] = {"with": peer_id, "limit": page}
            if before is not None:
                req["before"] = before
            ack = self.call("fetch messages", req)
            assert ack["ok"], ack
            messages = ack["messages"] + messages
            if not ack["hasMore"] or not ack["messages"]:
                return messages
            before = ack["messages"][0]["id"]

    def wait_connected(self, timeout: float = 20) -> None:
        """Returns once connected (at once, or when a reconnection has succeeded)."""
        assert self.online.wait(timeout), "not reconnected"

    def sid(self) -> str:
        """The Socket.IO sid of the current connection (the server's ``request.sid``)."""
        return self.sio.get_sid("/")

    def close(self) -> None:
        """Disconnects for good (a reconnecting Peer stops trying)."""
        self.sio.shutdown()
