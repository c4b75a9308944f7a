"""How a Socket.IO event reaches its handler: identity, validation, limits, errors as acks.

``connect`` goes through Flask-SocketIO (it needs the HTTP request: its cookie, its
address). Every other event, ``disconnect`` included, is registered directly on
python-socketio's server by ``init_app``: Flask-SocketIO would build a Flask request context
(request object, URL matching, a session opened from the cookie) for each event, which
measured as the largest single cost of a relayed message (docs/performance.md). These
handlers get a plain app context instead, and find the connection's identity in its WSGI
environ, where ``connect`` put it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, NamedTuple

from flask import Config, Flask
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import PydanticCustomError
from sqlalchemy.exc import SQLAlchemyError

from chat import instrument, logs, store, targets
from chat.extensions import db, socketio
from chat.lifecycle import Lifecycle
from chat.payloads import error_ack
from chat.ratelimit import Limiter
from chat.services import services
from chat.targets import KnownUsers

log = logging.getLogger(__name__)

OVER_LIMIT_PAUSE_MS = 50
ERROR_CODES = {"invalid_payload", "unknown_recipient", "too_long", "empty", "rate_limited"}
CONTENT_CODES = {"empty", "too_long"}
# Key of the connection's store.Identity in its WSGI environ (one environ per connection).
IDENTITY = "chat.identity"
# Key of the connection's _Bound (its app's config and services) in its WSGI environ.
_BOUND = "chat.bound"
# event -> python-socketio handler, registered on each new server by init_app.
_HANDLERS: dict[str, Callable[..., Any]] = {}


class Payload(BaseModel):
    """Base of every event schema: unknown keys are ignored, as old clients may send them.

    No string may hold a NUL character: PostgreSQL's text cannot store one, and a payload
    that would fail there must fail the same clear way on SQLite.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and any(_holds_nul(v) for v in raw.values()):
            raise PydanticCustomError("invalid_payload", "text may not contain NUL characters")
        return raw


def _holds_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list):
        return any(isinstance(v, str) and "\x00" in v for v in value)
    return False


def identify(environ: dict, me: store.Identity) -> None:
    """Records ``me`` as who the connection of ``environ`` acts as, for its later events."""
    environ[IDENTITY] = me


def identity(environ: dict | None) -> store.Identity | None:
    """Who the connection of ``environ`` acts as, or None before an accepted handshake."""
    return environ.get(IDENTITY) if environ else None


def _validation_error(exc: ValidationError) -> dict[str, Any]:
    errors = exc.errors(include_url=False, include_input=False)
    # PROTOCOL.md B6's order: a malformed field wins over what is wrong with the content.
    first = next((e for e in errors if e["type"] not in CONTENT_CODES), errors[0])
    code = first["type"] if first["type"] in ERROR_CODES else "invalid_payload"
    where = ".".join(str(part) for part in first["loc"]) or "payload"
    return error_ack(code, f"{where}: {first['msg']}")


class _Bound(NamedTuple):
    """What every event of one connection needs of its app, looked up once per connection."""

    app: Flask
    config: Config
    limiter: Limiter
    lifecycle: Lifecycle
    known_users: KnownUsers


def _bound(environ: dict) -> _Bound:
    bound = environ.get(_BOUND)
    if bound is None:
        app = environ["flask.app"]
        built = services(app)
        bound = environ[_BOUND] = _Bound(
            app, app.config, built.limiter, built.lifecycle, built.known_users
        )
    return bound


def handler(
    event: str, schema: type[Payload], limit: str | None = None, target: str | None = None
) -> Callable:
    """Declares ``fn(me, payload, sid)`` for ``event``; validation, limits, errors become acks.

    ``target`` names the payload field holding a userID the event acts on: unless it names
    an existing user (``chat.targets``), the ack is ``unknown_recipient`` and ``fn`` never runs.
    """
    rate_key, burst_key = (f"{limit.upper()}_RATE", f"{limit.upper()}_BURST") if limit else ("", "")
    validate = schema.model_validate

    def decorator(fn: Callable) -> Callable:
        def on_event(sid: str, data: object = None, *_extra: object) -> dict[str, Any] | None:
            environ = socketio.server.get_environ(sid)
            me = environ.get(IDENTITY) if environ else None
            if me is None:
                return error_ack("invalid_payload", "not authenticated")
            instrument.current.set(me)
            bound = _bound(environ)
            # An app context (config, extensions, a database session removed at its end),
            # not Flask-SocketIO's request context: see the module docstring.
            with bound.app.app_context():
                try:
                    return _run(bound, me, data, sid)
                except Exception as exc:  # a bug: the client still gets an ack, others go on
                    db.session.rollback()
                    return instrument.on_unexpected(exc, event)

        def _run(
            bound: _Bound, me: store.Identity, data: object, sid: str
        ) -> dict[str, Any] | None:
            config = bound.config
            try:
                payload = validate(data, context=config)
            except ValidationError as exc:
                return _validation_error(exc)
            if limit is not None:
                wait = bound.limiter.take(
                    f"{limit}:{me.user_id}", config[rate_key], config[burst_key]
                )
                if wait:
                    # Events run in the socket's reader: pausing it makes a flooding client
                    # wait on its own connection instead of costing the worker CPU.
                    socketio.sleep(min(wait, OVER_LIMIT_PAUSE_MS) / 1000)
                    return error_ack("rate_limited", "too many requests", retryAfterMs=wait)
            if target is not None:
                named = getattr(payload, target)
                if named is not None and not bound.known_users.exists(named):
                    return error_ack("unknown_recipient", targets.DETAIL)
            try:
                # A draining process waits for this before closing the socket.
                with bound.lifecycle.in_flight(sid):
                    return fn(me, payload, sid)
            except store.StoreError as exc:
                return error_ack(exc.code, exc.detail)
            except SQLAlchemyError:
                db.session.rollback()
                log.exception("storage failed", extra=logs.fields("exception", me.user_id, "db"))
                return error_ack("unavailable", "storage is unavailable; nothing was stored")

        _HANDLERS[event] = instrument.acked(event, on_event)  # counts acks, logs error acks
        return fn

    return decorator


def on_close(fn: Callable[[str, object], None]) -> Callable[[str, object], None]:
    """Declares ``fn(sid, reason)`` for ``disconnect``, run in the app context of the
    connection; an exception it raises is logged and counted, never raised to the server."""

    def on_disconnect(sid: str, reason: object = None) -> None:
        environ = socketio.server.get_environ(sid)
        if not environ:
            return
        with environ["flask.app"].app_context():
            try:
                fn(sid, reason)
            except Exception as exc:  # a bug: the socket is gone all the same
                db.session.rollback()
                instrument.on_unexpected(exc, "disconnect")

    _HANDLERS["disconnect"] = on_disconnect
    return fn


def init_app(app) -> None:
    """Registers every declared handler on the app's python-socketio server (a new one per
    ``socketio.init_app``); the handler modules must be imported first."""
    for event, on_event in _HANDLERS.items():
        socketio.server.on(event, on_event)
