"""A user's own data as one JSON document, written piece by piece ("Download your data")."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

from chat import admin, payloads
from chat.models import User


def _person(user: User) -> dict[str, object]:
    return {"userID": user.id, "username": user.username, "deleted": user.deleted_at is not None}


def user_data(user: User) -> Iterator[str]:
    """The user's account and every conversation with all its messages, oldest first.

    Yielded in pieces, so that a long history is never held in memory as one list.
    """
    head = {
        "exportedAt": payloads.iso(datetime.now(UTC).replace(tzinfo=None)),
        "user": {
            **_person(user),
            "createdAt": payloads.iso(user.created_at),
            "passwordProtected": user.password_hash is not None,
            "readReceipts": bool(user.read_receipts),
        },
    }
    yield json.dumps(head)[:-1] + ', "conversations": ['
    # Read before the messages: paging through them expunges the session's objects.
    peers = [(peer.id, _person(peer)) for peer in admin.conversation_peers(user.id)]
    for i, (peer_id, person) in enumerate(peers):
        yield ("," if i else "") + '\n {"with": ' + json.dumps(person) + ', "messages": ['
        for j, msg in enumerate(admin.conversation(user.id, peer_id)):
            yield ("," if j else "") + "\n  " + json.dumps(payloads.to_wire(msg))
        yield "]}"
    yield "\n]}\n"
