"""Socket.IO handlers that change what was said and who may say it: edit and delete one's
own messages (PROTOCOL.md B7), block and unblock someone (B8).

Each validates its payload with the schema above it (``chat.dispatch`` runs it and the
limiter, EDIT_RATE / EDIT_BURST for all four), calls the store, emits, and returns the ack.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from pydantic import StrictStr, ValidationInfo, field_validator

from chat import attachments, payloads, store
from chat.dispatch import Payload, handler
from chat.events import MessageID, UserID, check_content
from chat.extensions import socketio


class EditMessage(Payload):
    id: MessageID
    content: StrictStr

    @field_validator("content")
    @classmethod
    def _content(cls, value: str, info: ValidationInfo) -> str:
        return check_content(value, info)


@handler("edit message", EditMessage, limit="edit")
def on_edit_message(me: store.Identity, req: EditMessage, sid: str) -> dict[str, Any]:
    """A sender correcting its own message within EDIT_WINDOW_S: stored, then sent to both
    users' rooms but this socket; the ack carries the whole message."""
    window = float(current_app.config["EDIT_WINDOW_S"])
    msg = store.edit_message(me.user_id, req.id, req.content, window)
    rooms = [msg.recipient_id, me.user_id]
    socketio.emit("message edited", payloads.edited(msg), to=rooms, skip_sid=sid)
    files = attachments.for_messages([msg.id]).get(msg.id, ())
    return {"ok": True, "message": payloads.to_wire(msg, files)}


class DeleteMessage(Payload):
    id: MessageID


@handler("delete message", DeleteMessage, limit="edit")
def on_delete_message(me: store.Identity, req: DeleteMessage, sid: str) -> dict[str, Any]:
    """A sender taking back its own message: erased, then sent to both users' rooms but this
    socket. A retry acks (and relays) the same: the first relay may be what was lost."""
    msg = store.delete_message(me.user_id, req.id)
    rooms = [msg.recipient_id, me.user_id]
    socketio.emit("message deleted", payloads.deleted(msg), to=rooms, skip_sid=sid)
    return {"ok": True, "id": msg.id}


class Block(Payload):
    userID: UserID


@handler("block", Block, limit="edit", target="userID")
def on_block(me: store.Identity, req: Block, _sid: str) -> dict[str, Any]:
    """A user blocking another: stored; nothing is emitted (the blocked user is not told)."""
    return payloads.block_state(req.userID, store.block(me.user_id, req.userID))


@handler("unblock", Block, limit="edit", target="userID")
def on_unblock(me: store.Identity, req: Block, _sid: str) -> dict[str, Any]:
    """A user lifting its block: stored; nothing is emitted."""
    return payloads.block_state(req.userID, store.unblock(me.user_id, req.userID))
