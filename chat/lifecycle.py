"""One process among several: graceful drain on SIGTERM, routing help for nginx, client address.

On SIGTERM a worker answers 503 to new Socket.IO handshakes (nginx retries the next process),
lets gunicorn close its listener, closes each socket once no event of it is in flight (its
client reconnects through nginx to another process), waits for the events still running,
and leaves presence with a grace period so that nobody else sees its users flap offline.

A request for an Engine.IO session this process does not hold gets engine.io's 400 (the
session is unknown or expired), or 503 while draining. Behind nginx, which says so with the
``X-Chat-Next-Upstream`` header, it gets 503 too: nginx then tries the next process, so a
session opened elsewhere while its hashed process was away (draining, restarting) is found
instead of dropped, and nginx answers 400 itself when no process holds it.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import parse_qs

from flask import Flask

from chat import health
from chat.extensions import socketio

log = logging.getLogger(__name__)

# Flask-SocketIO's default path; handshakes are the requests on it without an engine.io sid.
SOCKETIO_PATH = "/socket.io"
# Set by deploy/nginx.conf.template: "a 503 makes me try your next process".
NEXT_UPSTREAM = "HTTP_X_CHAT_NEXT_UPSTREAM"


class Lifecycle:
    """Per-app shutdown state: the draining flag and the events in flight on each socket."""

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
    """WSGI middleware: 503 for the Socket.IO requests that ``Lifecycle.refuses``."""

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


def init_app(app: Flask) -> None:
    """Called by ``create_app`` after ``socketio.init_app``: drain state and WSGI wrappers."""
    state = Lifecycle(app.config)
    app.extensions["chat.lifecycle"] = state
    app.wsgi_app = DrainGate(app.wsgi_app, state)


def _hand_over(eio_sid: str) -> bool:
    """Closes one engine.io socket so that its client reconnects; False if already gone."""
    eio = socketio.server.eio
    sock = eio.sockets.get(eio_sid)
    if sock is None:
        return False
    # abort=True: no CLOSE packet. Browsers reconnect either way, but python-socketio clients
    # take a CLOSE packet as final; a dropped transport makes every client reconnect.
    sock.close(wait=False, abort=True)
    eio.sockets.pop(eio_sid, None)
    return True


def drain(app: Flask) -> None:
    """Called on SIGTERM as a background task: hands every socket over, then leaves presence."""
    state: Lifecycle = app.extensions["chat.lifecycle"]
    presence = app.extensions["chat.presence"]
    state.draining = True
    health.set_draining(app)  # /readyz answers 503 from now on
    presence.drain(state.grace)
    started = time.monotonic()
    deadline = started + state.timeout
    eio, manager = socketio.server.eio, socketio.server.manager
    closed = forced = 0
    idle_before: set[str] = set()
    while eio.sockets:
        late = time.monotonic() >= deadline
        idle = {e for e in list(eio.sockets) if not state.busy(manager.sid_from_eio_sid(e, "/"))}
        # Idle twice in a row: an ack being written right after its handler returned goes first.
        for eio_sid in set(eio.sockets) if late else idle & idle_before:
            if _hand_over(eio_sid):
                closed += 1
                forced += late
        idle_before = idle
        socketio.sleep(0.02)
    # A socket closed at the deadline may still have a handler running: let it commit.
    while state.events_in_flight() and time.monotonic() < deadline + state.timeout:
        socketio.sleep(0.02)
    presence.close()
    log.info(
        "drained: %d sockets handed over (%d with events in flight) in %.2fs",
        closed,
        forced,
        time.monotonic() - started,
    )


def on_worker_start(worker: Any) -> None:
    """gunicorn's ``post_worker_init``: presence starts at once, SIGTERM drains first."""
    app = worker.wsgi
    if not isinstance(app, Flask):
        return  # gunicorn's error app after a failed import
    from chat.events import start_presence

    start_presence(app)
    state: Lifecycle = app.extensions["chat.lifecycle"]

    def pre_start_hook(_server: Any, handler: Any) -> bool:
        # gevent-websocket answers an upgrade with 101 before the app runs; True makes it
        # call the app as plain WSGI instead, so that DrainGate's 503 reaches nginx and
        # engine.io's 400 for an unknown session reaches the client.
        return state.refuses(handler.environ) or unknown_session(handler.environ)

    # The worker builds its server in run(), after this hook: a subclass on this worker only.
    worker.server_class = type(
        "ChatWSGIServer", (worker.server_class,), {"pre_start_hook": pre_start_hook}
    )
    stop = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: Any) -> None:
        if state.task is None:
            state.draining = True
            state.task = socketio.start_background_task(drain, app)
        if callable(stop):
            stop(signum, frame)  # worker.alive = False: gunicorn closes its listener

    signal.signal(signal.SIGTERM, on_sigterm)
    signal.siginterrupt(signal.SIGTERM, False)


def on_worker_exit(worker: Any) -> None:
    """gunicorn's ``worker_exit``: waits for the drain, or drains now if none was asked for."""
    app = worker.wsgi
    if not isinstance(app, Flask):
        return
    state: Lifecycle = app.extensions["chat.lifecycle"]
    if state.task is None:
        drain(app)
    else:
        state.task.join(timeout=2 * state.timeout + 1)
