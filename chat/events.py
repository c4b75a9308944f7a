"""Socket.IO handlers: the handshake's emits, presence announcements, the message relay,
read state and typing. Editing, deleting and blocking are in ``chat.changes``.

Each handler validates its payload with the schema declared above it (``chat.dispatch``
runs it), calls the store, emits, and returns the acknowledgement of PROTOCOL.md B2/B6.
"""

from __future__ import annotations

from typing import Annotated, Any

from flask import Flask, current_app, request
from flask_socketio import emit
from pydantic import Field, StrictInt, StrictStr, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from chat import announce, attachments, dispatch, handshake, instrument, payloads, relay, store
from chat.dispatch import Payload, handler
from chat.extensions import socketio
from chat.services import services

UserID = Annotated[StrictStr, Field(min_length=1, max_length=32)]
MessageID = Annotated[StrictInt, Field(ge=0, le=2**63 - 1)]


def check_content(value: str, info: ValidationInfo, may_be_empty: bool = False) -> str:
    """B2's content rules: not only white space (unless ``may_be_empty``), not too long."""
    if not may_be_empty and not value.strip():
        raise PydanticCustomError("empty", "message is empty")
    limit = (info.context or {}).get("MAX_MESSAGE_LENGTH", 4000)
    if len(value) > limit:
        raise PydanticCustomError(
            "too_long", "message is over {limit} characters", {"limit": limit}
        )
    return value


# --- connection ------------------------------------------------------------------------


@socketio.on("connect")
@instrument.handshake  # counts and logs the accepted or refused handshake
def on_connect(auth: object = None) -> None:
    """Any client connecting: its session, its users list, then the others hear it came."""
    start_presence(current_app._get_current_object())
    accepted = handshake.accept(auth)
    me = accepted.me
    # The connecting socket is on this process: its own events skip the message queue
    # (with Redis, each would otherwise be published to every process, the whole
    # users list included, and dropped by all but this one).
    emit("session", payloads.session(accepted.token, me.user_id), ignore_queue=True)
    emit("users", accepted.users, ignore_queue=True)
    announce.submit(
        announce.Change(
            me.user_id, True, me.username, request.sid, accepted.contacts, accepted.blocked
        )
    )


@dispatch.on_close
def on_disconnect(sid: str, reason: object) -> None:
    """A socket closing: announce the user offline only if it was their last socket anywhere."""
    me = dispatch.identity(socketio.server.get_environ(sid))
    if me is None:
        return
    instrument.disconnected(me.user_id, reason)
    if services().presence.disconnect(me.user_id, sid):
        announce.submit(announce.Change(me.user_id, False, skip_sid=sid))


def start_presence(app: Flask) -> None:
    """Starts presence's background work with this module's announcements; idempotent."""
    services(app).presence.start(
        app, socketio.start_background_task, socketio.sleep, _announce_offline, _announce_online
    )


def _announce_online(user_id: str) -> None:
    # Presence put a user back (Redis recovered, or this process was purged by mistake).
    announce.submit(announce.Change(user_id, True))


def _announce_offline(user_id: str) -> None:
    # Presence found a user gone: a dead process's, or a grace period ran out.
    announce.submit(announce.Change(user_id, False))


# --- messages --------------------------------------------------------------------------


class PrivateMessage(Payload):
    content: StrictStr
    to: UserID
    clientId: Annotated[StrictStr, Field(min_length=1, max_length=64)] | None = None
    attachments: list[str] | None = None

    @field_validator("content")
    @classmethod
    def _content(cls, value: str, info: ValidationInfo) -> str:
        return check_content(value, info, may_be_empty=True)  # empty: see _not_empty

    @field_validator("attachments", mode="before")
    @classmethod
    def _attachments(cls, value: object) -> list[str] | None:
        if value is None:
            return None
        try:
            return attachments.validate_ids(value)
        except attachments.InvalidAttachments as exc:
            raise PydanticCustomError("invalid_payload", exc.detail) from None

    @model_validator(mode="after")
    def _not_empty(self) -> PrivateMessage:
        # After the fields: a malformed field's invalid_payload comes first (B6's order).
        if not self.content.strip() and not self.attachments:
            raise PydanticCustomError("empty", "message is empty")
        return self


@handler("private message", PrivateMessage, limit="send", target="to")
def on_private_message(me: store.Identity, msg: PrivateMessage, sid: str) -> dict[str, Any]:
    """A sender's message and its attachments: stored first (committed with the messages
    that arrived with it; one with attachments claims them in its own transaction), then
    relayed to both users' rooms but this socket."""
    if msg.attachments:  # a plain message never queries attachments
        ids = msg.attachments
        content = msg.content if msg.content.strip() else attachments.content_for(me.user_id, ids)

        def attach(message_id: int) -> list[dict]:
            return attachments.claim(me.user_id, msg.to, ids, message_id)

        saved = store.save_message(me.user_id, msg.to, content, msg.clientId, attach)
    else:
        saved = store.save_grouped(me.user_id, msg.to, msg.content, msg.clientId)
    wire = relay.relay_saved(me, saved, skip_sid=sid)
    return {"ok": True, "message": wire}


class FetchMessages(Payload):
    with_: UserID = Field(alias="with")
    before: MessageID | None = None
    limit: Annotated[StrictInt, Field(ge=1, le=200)] | None = None


@handler("fetch messages", FetchMessages, limit="fetch", target="with_")
def on_fetch_messages(me: store.Identity, req: FetchMessages, _sid: str) -> dict[str, Any]:
    """A client paging back through one conversation, by message id."""
    limit = req.limit or current_app.config["HISTORY_PAGE"]
    messages, has_more = store.history(me.user_id, req.with_, limit, req.before)
    files = attachments.for_messages(m.id for m in messages)
    return {"ok": True, "messages": payloads.messages(messages, files), "hasMore": has_more}


class Read(Payload):
    with_: UserID = Field(alias="with")
    upTo: MessageID


@handler("read", Read, target="with_")
def on_read(me: store.Identity, req: Read, _sid: str) -> dict[str, Any]:
    """A reader's mark: stored, then sent to the reader's tabs and (receipts on, no block
    between them) the peer's."""
    up_to = store.mark_read(me.user_id, req.with_, req.upTo)
    if up_to is not None:
        rooms = [me.user_id]
        if store.read_receipts_enabled(me.user_id) and not store.blocked_between(
            me.user_id, req.with_
        ):
            rooms.append(req.with_)
        socketio.emit("read", payloads.read_mark(me.user_id, req.with_, up_to), to=rooms)
    return {"ok": True, "upTo": up_to}


class Typing(Payload):
    to: UserID


@handler("typing", Typing, limit="typing", target="to")
def on_typing(me: store.Identity, req: Typing, _sid: str) -> dict[str, Any]:
    """A typist's signal, relayed to the peer's tabs (unless a block is between them) and
    never stored."""
    if req.to != me.user_id and not store.blocked_between(me.user_id, req.to):
        socketio.emit("typing", {"from": me.user_id}, to=req.to)
    return {"ok": True}
