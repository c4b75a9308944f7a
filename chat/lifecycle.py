"""One process among several: its drain state, and the gate that sends requests elsewhere.

While draining (chat.shutdown, on SIGTERM) a worker answers 503 to new Socket.IO handshakes
(nginx retries the next process) and ``/readyz`` answers 503 (the balancer moves away).

A request for an Engine.IO session this process does not hold gets engine.io's 400 (the
session is unknown or expired), or 503 while draining. Behind nginx, which says so with the
``X-Chat-Next-Upstream`` header, it gets 503 too: nginx then tries the next process, so a
session opened elsewhere while its hashed process was away (draining, restarting) is found
instead of dropped, and nginx answers 400 itself when no process holds it.
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
# Set by deploy/nginx.conf.template: "a 503 makes me try your next process".
NEXT_UPSTREAM = "HTTP_X_CHAT_NEXT_UPSTREAM"


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
        """Whether an event of Socket.IO socket ``sid`` is being handled, its connect included."""
        # Closed during its connect handler, a socket gets no disconnect handler: the connect
        # would then put it in presence after it is gone, and nobody would take it out.
        manager = socketio.server.manager
        return sid is not None and (sid in self._busy or not manager.is_connected(sid, "/"))

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
        if sid[0] in socketio.server.eio.sockets:
            return False
        # Not held here: engine.io answers 400, unless another process may hold it.
        return self.draining or NEXT_UPSTREAM in environ


def unknown_session(environ: dict) -> bool:
    """Whether a Socket.IO request names an engine.io session this process does not hold."""
    if not environ.get("PATH_INFO", "").startswith(SOCKETIO_PATH):
        return False
    sid = parse_qs(environ.get("QUERY_STRING", "")).get("sid")
    return sid is not None and sid[0] not in socketio.server.eio.sockets


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
