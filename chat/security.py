"""Hardening at the edges: headers, proxies, cookies, WebSocket limits, reserved event names."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, request
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer
from werkzeug.middleware.proxy_fix import ProxyFix

# blob: images are the page's own previews of files chosen to send (never fetched from elsewhere).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; "
    "object-src 'none'"
)

log = logging.getLogger(__name__)

# python-socketio runs the connect/disconnect handlers for a client EVENT of that name.
RESERVED_EVENTS = frozenset({"connect", "disconnect", "connect_error"})

_ws_limit = {"bytes": 1_000_000}  # set by init_app from the configured largest event


class HttpsAwareSessionInterface(SecureCookieSessionInterface):
    """The session cookie is Secure whenever the request came over HTTPS (or when forced).

    One interface per app (``init_app``): its signing serializer is built once per secret.
    """

    def __init__(self) -> None:
        self._signing: tuple[tuple, URLSafeTimedSerializer | None] | None = None

    def get_cookie_secure(self, app: Flask) -> bool:
        """SESSION_COOKIE_SECURE, or the request's own scheme (through ProxyFix behind nginx)."""
        return super().get_cookie_secure(app) or request.is_secure

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        """Flask's serializer for the current secret and fallbacks, reused while they hold:
        Flask builds one per request, and every socket's connect and disconnect is one
        (~19 µs each: itsdangerous signs a test value to learn the serializer's type)."""
        secrets = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        if self._signing is None or self._signing[0] != secrets:
            self._signing = (secrets, super().get_signing_serializer(app))
        return self._signing[1]


def limit_websocket_messages(max_bytes: int) -> None:
    """Makes gevent-websocket refuse a frame or message over ``max_bytes`` before buffering it.

    gevent-websocket reads a whole frame of any announced length into memory, and only then
    does python-engineio compare it with ``max_http_buffer_size``: one client announcing a
    huge frame could exhaust the worker's memory. This checks the announced length first.
    """
    _ws_limit["bytes"] = max_bytes
    try:
        from geventwebsocket import websocket as gws
    except ImportError:  # threading mode (flask run): simple-websocket enforces its own limit
        return
    if getattr(gws.Header, "chat_limited", False):
        return
    decode_header = gws.Header.decode_header
    read_frame = gws.WebSocket.read_frame

    def limited_decode_header(cls, stream):
        header = decode_header(stream)
        if header.length > _ws_limit["bytes"]:
            raise gws.FrameTooLargeException(f"frame of {header.length} bytes")
        return header

    def limited_read_frame(self):
        header, payload = read_frame(self)
        # A message split into continuation frames must not grow past the limit either.
        key = "chat.ws_message_bytes"
        if header.opcode in (self.OPCODE_TEXT, self.OPCODE_BINARY):
            self.environ[key] = 0
        if header.opcode in (self.OPCODE_TEXT, self.OPCODE_BINARY, self.OPCODE_CONTINUATION):
            self.environ[key] = self.environ.get(key, 0) + len(payload)
            if self.environ[key] > _ws_limit["bytes"]:
                raise gws.FrameTooLargeException("message too large")
        return header, payload

    gws.Header.decode_header = classmethod(limited_decode_header)
    gws.WebSocket.read_frame = limited_read_frame
    gws.Header.chat_limited = True


def guard_events(server: Any) -> None:
    """Wraps every client event: drops reserved or malformed names, then yields once.

    - A client emitting "disconnect" would otherwise run the disconnect handler for its live
      socket (everyone is told it went offline), and "connect" would run the handshake again.
    - The yield: events of one socket are handled in that socket's reader (async_handlers
      off), and gevent's recv never yields while bytes are waiting, so a flooding client
      would otherwise keep the worker to itself, and nobody else could even connect.
    """
    handle_event = server._handle_event

    def guarded(eio_sid: str, namespace: str | None, id: int | None, data: Any) -> None:
        name = data[0] if isinstance(data, list) and data else None
        if not isinstance(name, str) or name in RESERVED_EVENTS:
            log.info("ignored client event named %r", name)
            return None
        server.sleep(0)
        return handle_event(eio_sid, namespace, id, data)

    server._handle_event = guarded


def init_app(app: Flask, max_event_bytes: int | None = None) -> None:
    """Called by ``create_app`` after Socket.IO: proxy headers, cookies, headers, limits."""
    proxies = int(app.config.get("TRUSTED_PROXIES", 0))
    if proxies:
        # Behind nginx: the client's address (per-IP limits, logs) and scheme (Secure cookie,
        # same-origin check) come from X-Forwarded-*, trusted from this many proxies only.
        # Wrapping after socketio.init_app puts Socket.IO requests behind it too.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
    app.session_interface = HttpsAwareSessionInterface()
    guard_events(app.extensions["socketio"].server)
    if max_event_bytes is not None:
        limit_websocket_messages(max_event_bytes)

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response
