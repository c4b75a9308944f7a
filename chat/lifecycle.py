"""One process among several: its drain state, and the gate that sends requests elsewhere.

While draining (chat.shutdown, on SIGTERM) a worker answers 503 to new Socket.IO handshakes
(nginx retries the next process) and ``/readyz`` answers 503 (the balancer moves away).

At any time, a request for an Engine.IO session this process does not hold also gets 503
instead of 400: behind nginx's hash, a session opened elsewhere while its hashed process was
away (draining, restarting) is then found on the next process instead of being dropped.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import parse_qs

from chat.extensions import socketio

# Flask-SocketIO's default path; handshakes are the requests on it without an engine.io sid.
SOCKETIO_PATH = "/socket.io"


class Lifecycle:
    """Per-app shutdown state: the draining flag (the only one) and the events in flight."""

    def __init__(self, config: dict) -> None:
        self.draining = False
        self.grace = float(config["PRESENCE_DRAIN_GRACE_S"])
        self.timeout = float(config["DRAIN_TIMEOUT_S"])
        self.task: Any = None
        self._busy: Counter[str] = Counter()

    @contextlib.contextmanager
    def in_flight(self, sid: str) -> Iterator[None]:
        """Wraps one event's handler: a drain does not close the socket meanwhile."""
        self._busy[sid] += 1
        try:
            yield
        finally:
            self._busy[sid] -= 1
            if self._busy[sid] <= 0:
                del self._busy[sid]

    def busy(self, sid: str | None) -> bool:
        """Whether an event of Socket.IO socket ``sid`` is being handled."""
        return sid is not None and sid in self._busy

    def events_in_flight(self) -> int:
        """Events being handled right now, on every socket."""
        return sum(self._busy.values())

    def refuses(self, environ: dict) -> bool:
        """Whether this Socket.IO request belongs on another process (see the module doc)."""
        if not environ.get("PATH_INFO", "").startswith(SOCKETIO_PATH):
            return False
        sid = parse_qs(environ.get("QUERY_STRING", "")).get("sid")
        if sid is None:
            return self.draining  # a new handshake
        return sid[0] not in socketio.server.eio.sockets


class DrainGate:
    """WSGI middleware: 503 for the Socket.IO requests that ``Lifecycle.refuses``.

    Wrap ``app.wsgi_app`` with it after ``socketio.init_app``, so that Socket.IO requests
    pass through it.
    """

    def __init__(self, wsgi_app: Callable, state: Lifecycle) -> None:
        self.wsgi_app = wsgi_app
        self.state = state

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        """Answers one HTTP request."""
        if self.state.refuses(environ):
            start_response(
                "503 Service Unavailable",
                [("Content-Type", "text/plain"), ("Retry-After", "1"), ("Connection", "close")],
            )
            return [b"not on this process; connect again\n"]
        return self.wsgi_app(environ, start_response)
