"""Wire payloads: the one place rows and identities become the dicts a client receives.

Nothing here queries or asks presence; callers pass what is online as plain values.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from chat.store import Listed


def iso(value: datetime | None) -> str | None:
    """ISO 8601 UTC with a ``Z``, as PROTOCOL.md B1 asks."""
    if value is None:
        return None
    return value.isoformat(timespec="milliseconds") + "Z"


def to_wire(msg: Any, attachments: Sequence[dict] = ()) -> dict[str, object]:
    """A message (a Message or a row with its columns) as relayed and returned, in the shape
    of PROTOCOL.md B6; ``attachments`` are its wire entries (chat.attachments.wire)."""
    out: dict[str, object] = {
        "id": msg.id,
        "content": msg.content,
        "from": msg.sender_id,
        "to": msg.recipient_id,
        "createdAt": iso(msg.created_at),
        "editedAt": iso(msg.edited_at),
        "attachments": list(attachments),
    }
    if msg.client_id is not None:
        out["clientId"] = msg.client_id
    return out


def messages(rows: Sequence, attachments: dict[int, list[dict]]) -> list[dict[str, object]]:
    """A list of messages as returned, with the attachments found for the whole list."""
    return [to_wire(m, attachments.get(m.id, ())) for m in rows]


def edited(msg: Any) -> dict[str, object]:
    """The ``message edited`` event (B7): only what changed, and whose it is."""
    return {
        "id": msg.id,
        "from": msg.sender_id,
        "to": msg.recipient_id,
        "content": msg.content,
        "editedAt": iso(msg.edited_at),
    }


def deleted(msg: Any) -> dict[str, object]:
    """The ``message deleted`` event (B7)."""
    return {"id": msg.id, "from": msg.sender_id, "to": msg.recipient_id}


def block_state(user_id: str, blocked: bool) -> dict[str, object]:
    """The acknowledgement of ``block`` and ``unblock`` (B8): the state after the call."""
    return {"ok": True, "userID": user_id, "blocked": blocked}


def session(token: str, user_id: str) -> dict[str, str]:
    """The ``session`` event (PROTOCOL.md A2.3)."""
    return {"sessionID": token, "userID": user_id}


def introduction(user_id: str, username: str) -> dict[str, Any]:
    """A ``user connected`` entry (A2.5): an online user, no history."""
    return {"userID": user_id, "username": username, "connected": True, "messages": []}


def found_user(
    user_id: str, username: str, connected: bool, last_seen: datetime | None
) -> dict[str, Any]:
    """A user as a lookup or a search finds it: who, and online or since when not."""
    return {
        "userID": user_id,
        "username": username,
        "connected": connected,
        "lastSeen": None if connected else iso(last_seen),
    }


def hidden_user(user_id: str, username: str) -> dict[str, Any]:
    """A user who blocked the asker, as found: no status at all (B8)."""
    return {"userID": user_id, "username": username, "connected": False, "lastSeen": None}


def listed_user(entry: Listed, connected: bool) -> dict[str, Any]:
    """One entry of the ``users`` event (A2.4, B3, B8): the user and its conversation's page;
    a user who blocked the lister shows neither ``connected`` nor ``lastSeen`` (as
    ``hidden_user``), the others as ``found_user``."""
    # One literal rather than found_user's dict spread into another: a connect builds 100.
    shown = connected and not entry.hidden
    return {
        "userID": entry.user_id,
        "username": entry.username,
        "connected": shown,
        "lastSeen": None if shown or entry.hidden else iso(entry.last_seen),
        "messages": messages(entry.messages, entry.attachments) if entry.messages else [],
        "hasMore": entry.has_more,
        "unread": entry.unread,
        "readUpTo": entry.read_up_to,
        "blocked": entry.blocked,
    }


def read_mark(by: str, peer_id: str, up_to: int) -> dict[str, Any]:
    """The ``read`` event: ``by`` has read its conversation with ``peer_id`` up to ``up_to``."""
    return {"by": by, "with": peer_id, "upTo": up_to}


def error_ack(code: str, detail: str, **extra: Any) -> dict[str, Any]:
    """A refused event's acknowledgement (B6): the error code, a detail, and any hints."""
    return {"ok": False, "error": code, "detail": detail, **extra}
