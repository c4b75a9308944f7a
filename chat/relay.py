"""The relay of a stored message: the same emits whether it came by socket or by form."""

from __future__ import annotations

from typing import Any

from chat import attachments, instrument, payloads, store
from chat.extensions import socketio


def relay_saved(me: store.Identity, saved: store.Saved, skip_sid: str | None = None) -> dict:
    """Emits a stored message to both users' rooms (but ``skip_sid``); returns its wire form.

    On a conversation's first message the sender is introduced to the recipient first, as an
    original client drops messages from strangers (docs/performance.md). A retry of a message
    deleted since is not relayed again.
    """
    files = saved.attachments
    if files is None:  # a retry: the stored message's own attachments
        files = attachments.for_messages([saved.message.id]).get(saved.message.id, [])
    wire: dict[str, Any] = payloads.to_wire(saved.message, files)
    if saved.message.deleted_at is not None:
        return wire
    if saved.opened:
        socketio.emit(
            "user connected", payloads.introduction(me.user_id, me.username), to=wire["to"]
        )
    # Re-relayed on a retry too: the first relay may be what was lost; clients merge by id.
    socketio.emit("private message", wire, to=[wire["to"], me.user_id], skip_sid=skip_sid)
    instrument.relayed(saved.created)
    return wire
