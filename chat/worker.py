"""The gunicorn worker: gevent-websocket's, trimmed for many idle connections.

``gunicorn -k chat.worker.Worker``. Two per-connection costs that measured as the largest
that the application can avoid on this stack (docs/performance.md):

- gevent records, for every greenlet it spawns, the stack and tree that spawned it: a
  debugging aid of ~4 KB per connection (engine.io spawns greenlets per socket);
- pywsgi reads each connection through an 8 KB buffer. Socket.IO frames are small, and a
  larger one is read straight past the buffer, so 1 KB serves as well.
"""

from __future__ import annotations

import gevent
from geventwebsocket.gunicorn.workers import GeventWebSocketWorker
from geventwebsocket.handler import WebSocketHandler

gevent.config.track_greenlet_tree = False

READ_BUFFER = 1024


class Handler(WebSocketHandler):
    """gevent-websocket's handler with a smaller read buffer per connection."""

    def __init__(self, sock, address, server, rfile=None):
        if rfile is None:
            rfile = sock.makefile("rb", READ_BUFFER)
        super().__init__(sock, address, server, rfile)


class Worker(GeventWebSocketWorker):
    """gevent-websocket's worker (WebSocket upgrades work) with the handler above."""

    wsgi_handler = Handler
