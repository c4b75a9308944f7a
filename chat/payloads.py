"""Wire payloads: the one place rows and identities become the dicts a client receives.

Nothing here queries or asks presence; callers pass what is online as plain values.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chat.store import Listed


def iso(value: datetime | None) -> str | None:
    """ISO 8601 UTC with a ``Z``, as PROTOCOL.md B1 asks."""
    if value is None:
        return None
    return value.isoformat(timespec="milliseconds") + "Z"


def to_wire(msg: Any) -> dict[str, object]:
    """A message (a Message or a row with its columns) as relayed and returned: A3 plus B1."""
    out: dict[str, object] = {
        "id": msg.id,
        "content": msg.content,
        "from": msg.sender_id,
        "to": msg.recipient_id,
        "createdAt": iso(msg.created_at),
    }
    if msg.client_id is not None:
        out["clientId"] = msg.client_id
    return out


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


def listed_user(entry: Listed, connected: bool) -> dict[str, Any]:
    """One entry of the ``users`` event (A2.4, B3): the user and its conversation's page."""
    return {
        **found_user(entry.user_id, entry.username, connected, entry.last_seen),
        "messages": [to_wire(m) for m in entry.messages],
        "hasMore": entry.has_more,
        "unread": entry.unread,
        "readUpTo": entry.read_up_to,
    }


def read_mark(by: str, peer_id: str, up_to: int) -> dict[str, Any]:
    """The ``read`` event: ``by`` has read its conversation with ``peer_id`` up to ``up_to``."""
    return {"by": by, "with": peer_id, "upTo": up_to}


def error_ack(code: str, detail: str, **extra: Any) -> dict[str, Any]:
    """A refused event's acknowledgement (B6): the error code, a detail, and any hints."""
    return {"ok": False, "error": code, "detail": detail, **extra}
