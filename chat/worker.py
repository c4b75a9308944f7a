"""The gunicorn worker: gevent-websocket's, trimmed for many idle connections.

``gunicorn -k chat.worker.Worker``. Two per-connection costs that measured as the largest
that the application can avoid on this stack (docs/performance.md):

- gevent records, for every greenlet it spawns, the stack and tree that spawned it: a
  debugging aid of ~4 KB per connection (engine.io spawns greenlets per socket);
- pywsgi reads each connection through an 8 KB buffer. Socket.IO frames are small, and a
  larger one is read straight past the buffer, so 1 KB serves as well.

It also lets a drain end: gunicorn waits, up to its graceful timeout, for every connection
to finish, and an idle HTTP keep-alive connection (a browser's, nginx's pool) never does by
itself. Once the drain has handed the sockets over, ``close_idle`` closes those connections
and the ones that become idle later, so a SIGTERM takes the drain's time, not 20 s more.
"""

from __future__ import annotations

import contextlib
import gc
import socket
import weakref
from typing import ClassVar

import gevent
from geventwebsocket.gunicorn.workers import GeventWebSocketWorker
from geventwebsocket.handler import WebSocketHandler

gevent.config.track_greenlet_tree = False

READ_BUFFER = 1024
# The youngest generation's threshold (CPython's default: 700 allocations). A connect
# allocates thousands of objects that live a few milliseconds (its rows, its users list);
# at 700 a burst of 1,000 connects ran ~650 young and 5 full collections (90-130 ms each,
# startup frozen or not), ~1 s of CPU; at 10,000 ~40 young and no full one, ~0.25 s
# (docs/performance.md). The older generations keep their thresholds: cycles are still
# collected, in fewer, larger young passes.
YOUNG_GC_THRESHOLD = 10_000


def tune_gc() -> int:
    """Takes what startup built out of the collector's passes and raises the youngest
    generation's threshold to YOUNG_GC_THRESHOLD; returns how many objects were frozen.

    Called once the app is loaded, before the first request."""
    # The ~140,000 objects of the imports and the app live as long as the worker, and every
    # full collection walked them all: ~100 ms of CPU each, a stall of every socket, several
    # times per 10,000 relayed messages (docs/performance.md, "Garbage collection").
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GC_THRESHOLD, older, oldest)
    return gc.get_freeze_count()


class Handler(WebSocketHandler):
    """gevent-websocket's handler with a smaller read buffer per connection, whose idle
    keep-alive connections a drain can close."""

    # Connections waiting for their next request line; after close_idle, none may wait.
    _waiting: ClassVar[weakref.WeakSet[Handler]] = weakref.WeakSet()
    _closing: ClassVar[bool] = False

    def __init__(self, sock, address, server, rfile=None):
        if rfile is None:
            rfile = sock.makefile("rb", READ_BUFFER)
        super().__init__(sock, address, server, rfile)

    def read_requestline(self) -> str:
        if Handler._closing:
            return ""  # read as the client closing: the connection ends without a response
        Handler._waiting.add(self)
        try:
            return super().read_requestline()
        finally:
            Handler._waiting.discard(self)

    @classmethod
    def close_idle(cls) -> int:
        """Closes the connections waiting for a request, and those that come to wait later;
        returns how many were waiting."""
        cls._closing = True
        waiting = list(cls._waiting)
        for handler in waiting:
            sock = getattr(handler, "socket", None)
            if sock is not None:
                # The blocked read returns end of stream; OSError: the client closed it first.
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        return len(waiting)


class Worker(GeventWebSocketWorker):
    """gevent-websocket's worker (WebSocket upgrades work) with the handler above."""

    wsgi_handler = Handler
