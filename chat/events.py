"""Socket.IO handlers: the session handshake, the message relay, read state and typing.

Each handler validates its payload with the schema declared above it, calls the store,
emits, and returns the acknowledgement of PROTOCOL.md B2/B6.

``connect`` and ``disconnect`` go through Flask-SocketIO (they need the HTTP request: its
cookie, its address). Every other event is registered directly on python-socketio's server
by ``init_app``: Flask-SocketIO would build a Flask request context (request object, URL
matching, a session copy) for each event, which measured as the largest single cost of a
relayed message (docs/performance.md). These handlers get a plain app context instead, and
find the connection's identity in its WSGI environ, where ``connect`` put it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Annotated, Any

from flask import Flask, current_app, request, session
from flask_socketio import ConnectionRefusedError, emit, join_room
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from chat import logs, metrics, store
from chat.extensions import db, socketio

log = logging.getLogger(__name__)

UserID = Annotated[StrictStr, Field(min_length=1, max_length=32)]
MessageID = Annotated[StrictInt, Field(ge=0, le=2**63 - 1)]
OVER_LIMIT_PAUSE_MS = 50
ERROR_CODES = {"invalid_payload", "unknown_recipient", "too_long", "empty", "rate_limited"}
# Key of the connection's store.Identity in its WSGI environ (one environ per connection).
IDENTITY = "chat.identity"
# event -> python-socketio handler, registered on each new server by init_app.
_HANDLERS: dict[str, Callable[..., Any]] = {}


class Payload(BaseModel):
    """Base of every event schema: unknown keys are ignored, as old clients may send them."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


def _presence():
    return current_app.extensions["chat.presence"]


def _limiter():
    return current_app.extensions["chat.limiter"]


def _error(code: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"ok": False, "error": code, "detail": detail, **extra}


def _validation_error(exc: ValidationError) -> dict[str, Any]:
    first = exc.errors(include_url=False, include_input=False)[0]
    code = first["type"] if first["type"] in ERROR_CODES else "invalid_payload"
    where = ".".join(str(part) for part in first["loc"]) or "payload"
    return _error(code, f"{where}: {first['msg']}")


def handler(event: str, schema: type[Payload], limit: str | None = None) -> Callable:
    """Declares ``fn(me, payload, sid)`` for ``event``; validation, limits, errors become acks."""

    def decorator(fn: Callable) -> Callable:
        def on_event(sid: str, data: object = None, *_extra: object) -> dict[str, Any] | None:
            environ = socketio.server.get_environ(sid)
            me: store.Identity | None = environ.get(IDENTITY) if environ else None
            if me is None:
                return _error("invalid_payload", "not authenticated")
            metrics.current.set(me)
            # An app context (config, extensions, a database session removed at its end),
            # not Flask-SocketIO's request context: see the module docstring.
            with environ["flask.app"].app_context():
                try:
                    return _run(me, data, sid)
                except Exception as exc:  # a bug: the client still gets an ack, others go on
                    db.session.rollback()
                    return metrics.on_unexpected(exc, event)

        def _run(me: store.Identity, data: object, sid: str) -> dict[str, Any] | None:
            config = current_app.config
            try:
                payload = schema.model_validate(data, context=config)
            except ValidationError as exc:
                return _validation_error(exc)
            if limit is not None:
                wait = _limiter().take(
                    f"{limit}:{me.user_id}",
                    config[f"{limit.upper()}_RATE"],
                    config[f"{limit.upper()}_BURST"],
                )
                if wait:
                    # Events run in the socket's reader: pausing it makes a flooding client
                    # wait on its own connection instead of costing the worker CPU.
                    socketio.sleep(min(wait, OVER_LIMIT_PAUSE_MS) / 1000)
                    return _error("rate_limited", "too many requests", retryAfterMs=wait)
            try:
                # A draining process waits for this before closing the socket.
                with current_app.extensions["chat.lifecycle"].in_flight(sid):
                    return fn(me, payload, sid)
            except store.StoreError as exc:
                return _error(exc.code, exc.detail)
            except SQLAlchemyError:
                db.session.rollback()
                log.exception("storage failed", extra=logs.fields("exception", me.user_id, "db"))
                return _error("unavailable", "storage is unavailable; nothing was stored")

        _HANDLERS[event] = metrics.acked(event, on_event)  # counts acks, logs error acks
        return fn

    return decorator


def init_app(app) -> None:
    """Called by ``create_app`` after ``socketio.init_app``, which makes a new server each time."""
    for event, on_event in _HANDLERS.items():
        socketio.server.on(event, on_event)


def _audience(user_id: str) -> list[str] | None:
    """Who hears that ``user_id`` came or went: everyone (None) while all online users fit in
    a ``users`` list; beyond that its own tabs and its recent conversations, so that bringing
    N users online costs O(N), not N² events (docs/performance.md)."""
    limit = current_app.config["USERS_LIST_LIMIT"]
    if _presence().count() <= limit:
        return None
    return [user_id, *store.contact_ids(user_id, limit)]


# --- handshake -------------------------------------------------------------------------


class Auth(BaseModel):
    """The CONNECT packet's ``auth``; anything unusable reads as absent."""

    model_config = ConfigDict(extra="ignore")
    sessionID: str | None = None
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, raw: object) -> Auth:
        """Lenient: a malformed auth object is treated as no credentials."""
        if not isinstance(raw, dict):
            return cls()
        fields = {k: v for k, v in raw.items() if k in cls.model_fields and isinstance(v, str)}
        return cls(**fields)


def _authenticate(auth: Auth) -> tuple[store.Identity, str]:
    idle = current_app.config["SESSION_IDLE_DAYS"]
    for token in (auth.sessionID, session.get("sessionID")):
        if token and (me := store.resume(token, idle)) is not None:
            return me, token
    if auth.username is None:
        raise ConnectionRefusedError("invalid username")
    try:
        return store.login(auth.username, auth.password or None)
    except store.StoreError as exc:
        raise ConnectionRefusedError(exc.code) from None


@socketio.on("connect")
@metrics.handshake  # counts and logs the accepted or refused handshake
def on_connect(auth: object = None) -> None:
    """Any client connecting: resume or create its session, then PROTOCOL.md A2 in order."""
    config = current_app.config
    if _limiter().take(
        f"connect:{request.remote_addr}", config["CONNECT_RATE"], config["CONNECT_BURST"]
    ):
        raise ConnectionRefusedError("rate limited")
    me: store.Identity | None = None
    try:
        me, token = _authenticate(Auth.parse(auth))
        presence = _presence()
        start_presence(current_app._get_current_object())
        request.environ[IDENTITY] = me
        metrics.current.set(me)
        # Joined before history is read: a message stored from here on is relayed to this
        # socket, so none falls between the `users` snapshot and the live relay.
        join_room(me.user_id)
        users = store.users_payload(
            me.user_id, presence, config["HISTORY_PAGE"], config["USERS_LIST_LIMIT"]
        )
        # Last, so that a refusal above leaves no socket behind in presence.
        presence.connect(me.user_id, request.sid, me.session_id)
        audience = _audience(me.user_id)
    except (SQLAlchemyError, RedisError):
        # Database or (with REDIS_URL) presence down: a clear refusal rather than a hang.
        db.session.rollback()
        where = "redis" if isinstance(sys.exc_info()[1], RedisError) else "db"
        log.exception("storage failed", extra=logs.fields("exception", None, where))
        if me is not None and me.new_user:
            _forget(me)
        raise ConnectionRefusedError("unavailable") from None
    # The connecting socket is on this process: its own events skip the message queue
    # (with Redis, each would otherwise be published to every process, the whole
    # users list included, and dropped by all but this one).
    emit("session", {"sessionID": token, "userID": me.user_id}, ignore_queue=True)
    emit("users", users, ignore_queue=True)
    socketio.emit(
        "user connected",
        {"userID": me.user_id, "username": me.username, "connected": True, "messages": []},
        to=audience,
        skip_sid=request.sid,
    )


def _forget(me: store.Identity) -> None:
    # A name created by a refused handshake would stay taken, unclaimable without a password.
    try:
        store.forget_new_user(me)
    except SQLAlchemyError:
        db.session.rollback()
        log.exception(
            "refused user not forgotten", extra=logs.fields("exception", me.user_id, "db")
        )


@socketio.on("disconnect")
def on_disconnect(reason: object = None) -> None:
    """A socket closing: announce the user offline only if it was their last socket anywhere."""
    me: store.Identity | None = request.environ.get(IDENTITY)
    if me is None:
        return
    metrics.disconnected(me.user_id, reason)
    if _presence().disconnect(me.user_id, request.sid):
        _announce_offline(me.user_id, skip_sid=request.sid)


def start_presence(app: Flask) -> None:
    """Called on connect and when a gunicorn worker starts; idempotent."""
    app.extensions["chat.presence"].start(
        app, socketio.start_background_task, socketio.sleep, _announce_offline, _announce_online
    )


def _announce_online(user_id: str) -> None:
    # Presence put a user back (Redis recovered, or this process was purged by mistake).
    username = store.username(user_id)
    if username is not None:
        payload = {"userID": user_id, "username": username, "connected": True, "messages": []}
        socketio.emit("user connected", payload)


def _announce_offline(user_id: str, skip_sid: str | None = None) -> None:
    audience = None
    try:
        store.touch_last_seen(user_id)
        audience = _audience(user_id)
    except SQLAlchemyError:
        db.session.rollback()
        log.exception("last seen not stored", extra=logs.fields("exception", user_id, "db"))
    socketio.emit("user disconnected", user_id, to=audience, skip_sid=skip_sid)


# --- messages --------------------------------------------------------------------------


class PrivateMessage(Payload):
    content: StrictStr
    to: UserID
    clientId: Annotated[StrictStr, Field(min_length=1, max_length=64)] | None = None

    @field_validator("content")
    @classmethod
    def _content(cls, value: str, info: ValidationInfo) -> str:
        if not value.strip():
            raise PydanticCustomError("empty", "message is empty")
        limit = (info.context or {}).get("MAX_MESSAGE_LENGTH", 4000)
        if len(value) > limit:
            raise PydanticCustomError(
                "too_long", "message is over {limit} characters", {"limit": limit}
            )
        return value


@handler("private message", PrivateMessage, limit="send")
def on_private_message(me: store.Identity, msg: PrivateMessage, sid: str) -> dict[str, Any]:
    """A sender's message: stored first, then relayed to both users' rooms but this socket."""
    saved = store.save_message(me.user_id, msg.to, msg.content, msg.clientId)
    wire = store.to_wire(saved.message)
    if saved.opened:
        # A client lists only the users it needs (docs/performance.md): introduce the sender
        # before its first message, as an original client drops messages from strangers.
        socketio.emit("user connected", _introduction(me), to=msg.to)
    # Re-relayed on a retry too: the first relay may be what was lost; clients merge by id.
    socketio.emit("private message", wire, to=[msg.to, me.user_id], skip_sid=sid)
    metrics.relayed(saved.created)
    return {"ok": True, "message": wire}


def _introduction(me: store.Identity) -> dict[str, Any]:
    return {"userID": me.user_id, "username": me.username, "connected": True, "messages": []}


class FetchMessages(Payload):
    with_: UserID = Field(alias="with")
    before: MessageID | None = None
    limit: Annotated[StrictInt, Field(ge=1, le=200)] | None = None


@handler("fetch messages", FetchMessages, limit="fetch")
def on_fetch_messages(me: store.Identity, req: FetchMessages, _sid: str) -> dict[str, Any]:
    """A client paging back through one conversation, by message id."""
    if not store.user_exists(req.with_):
        raise store.UnknownRecipient("no user has this userID")
    limit = req.limit or current_app.config["HISTORY_PAGE"]
    messages, has_more = store.history(me.user_id, req.with_, limit, req.before)
    return {"ok": True, "messages": [store.to_wire(m) for m in messages], "hasMore": has_more}


class Read(Payload):
    with_: UserID = Field(alias="with")
    upTo: MessageID


@handler("read", Read)
def on_read(me: store.Identity, req: Read, _sid: str) -> dict[str, Any]:
    """A reader's mark: stored, then sent to the reader's tabs and (receipts on) the peer's."""
    up_to = store.mark_read(me.user_id, req.with_, req.upTo)
    if up_to is not None:
        rooms = [me.user_id]
        if store.read_receipts_enabled(me.user_id):
            rooms.append(req.with_)
        socketio.emit("read", {"by": me.user_id, "with": req.with_, "upTo": up_to}, to=rooms)
    return {"ok": True, "upTo": up_to}


class Typing(Payload):
    to: UserID


@handler("typing", Typing, limit="typing")
def on_typing(me: store.Identity, req: Typing, _sid: str) -> dict[str, Any]:
    """A typist's signal, relayed to the peer's tabs and never stored."""
    if req.to != me.user_id:
        socketio.emit("typing", {"from": me.user_id}, to=req.to)
    return {"ok": True}
