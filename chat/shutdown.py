"""Graceful shutdown of a gunicorn worker: SIGTERM drains the process instead of cutting it.

On SIGTERM a worker answers 503 to new Socket.IO handshakes (nginx retries the next process),
lets gunicorn close its listener, closes each socket once no event of it is in flight (its
client reconnects through nginx to another process), waits for the events still running,
and leaves presence with a grace period so that nobody else sees its users flap offline.
``deploy/gunicorn.conf.py`` installs the two hooks below.
"""

from __future__ import annotations

import logging
import signal
import time
from typing import Any

from flask import Flask

from chat import checkpoint
from chat.attachments import start_housekeeping
from chat.events import start_presence
from chat.extensions import socketio
from chat.lifecycle import unknown_session
from chat.services import services
from chat.worker import Handler

log = logging.getLogger(__name__)


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
    """Hands every socket over to another process, then leaves presence; blocks until done."""
    state, presence = services(app).lifecycle, services(app).presence
    state.draining = True  # /readyz and new handshakes answer 503 from now on
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
    idle = Handler.close_idle()
    log.info(
        "drained: %d sockets handed over (%d with events in flight), %d idle connections "
        "closed, in %.2fs",
        closed,
        forced,
        idle,
        time.monotonic() - started,
    )


def on_worker_start(worker: Any) -> None:
    """gunicorn's ``post_worker_init``: presence starts at once, SIGTERM drains first."""
    app = getattr(worker, "wsgi", None)  # absent when the app failed to load
    if not isinstance(app, Flask):
        return  # gunicorn's error app after a failed import
    start_presence(app)
    start_housekeeping(app, socketio.start_background_task, socketio.sleep)
    checkpoint.start(app)
    state = services(app).lifecycle

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
    app = getattr(worker, "wsgi", None)  # absent when the app failed to load
    if not isinstance(app, Flask):
        return
    state = services(app).lifecycle
    if state.task is None:
        drain(app)
    else:
        state.task.join(timeout=2 * state.timeout + 1)
