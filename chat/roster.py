"""The users list a client first sees (PROTOCOL.md A2.4, B3), bounded whatever the numbers.

At most ``limit`` users, chosen in this order: the user itself, its most recent
conversations, other online users, then other users by name; listed self first, then by
name. The store reads the rows, presence says who is online, ``chat.payloads`` shapes them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from chat import payloads, store


class Presence(Protocol):
    """What the users list asks of chat.presence."""

    def online(self, user_ids: Iterable[str] | None = None) -> set[str]: ...
    def some(self, limit: int) -> set[str]: ...


def users_list(
    user_id: str,
    presence: Presence,
    page: int,
    limit: int,
    contacts: list[tuple[str, int]] | None = None,
    blocks: store.Relations | None = None,
) -> list[dict[str, Any]]:
    """The ``users`` event body for ``user_id``; ends the read transaction before returning.

    ``contacts``: ``store.contacts(user_id, n)`` for some n >= limit - 1, if already read;
    ``blocks``: ``store.blocks_of(user_id)``, if already read.
    """
    if contacts is None:
        contacts = store.contacts(user_id, limit - 1)
    recent = contacts[: limit - 1]
    chosen = [user_id] + [peer for peer, _ in recent if peer != user_id]
    room = limit - len(chosen)
    if room > 0:
        # Ask for more than needed: the sample may hold this user and its contacts.
        taken = set(chosen)
        chosen += [u for u in presence.some(room + len(taken)) if u not in taken][:room]
    listed = store.listing(user_id, chosen, dict(recent), page, limit, blocks)
    # A user listing is online, if not yet counted.
    online = presence.online([entry.user_id for entry in listed]) | {user_id}
    return [payloads.listed_user(entry, entry.user_id in online) for entry in listed]


def found_users(
    user_id: str, rows: Iterable[tuple[str, str, Any]], presence: Presence
) -> list[dict[str, Any]]:
    """Users found for ``user_id`` (search, lookup) from (userID, username, last seen) rows:
    online or since when not, except those who blocked ``user_id``: no status (B8)."""
    rows = list(rows)
    if not rows:
        return []
    _, hidden = store.relations(user_id, [uid for uid, _, _ in rows if uid != user_id])
    online = presence.online([uid for uid, _, _ in rows if uid not in hidden])
    return [
        payloads.hidden_user(uid, name)
        if uid in hidden
        else payloads.found_user(uid, name, uid in online, seen)
        for uid, name, seen in rows
    ]


def conversation(
    user_id: str, peer_id: str, presence: Presence, page: int
) -> dict[str, Any] | None:
    """One ``users`` entry for a peer outside the capped list, or None if there is no such user."""
    entry = store.conversation(user_id, peer_id, page)
    if entry is None:
        return None
    return payloads.listed_user(entry, peer_id in presence.online([peer_id]))
