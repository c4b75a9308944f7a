"""The users list a client first sees (PROTOCOL.md A2.4, B3), bounded whatever the numbers.

At most ``limit`` users, chosen in this order: the user itself, its most recent
conversations, other online users, then other users by name; listed self first, then by
name. The store reads the rows, presence says who is online, ``chat.payloads`` shapes them.

A user the handshake just created has no conversation, read mark or block yet: everyone
else is listed to it as to any other newcomer. So the newcomers of a burst (1,000 people
arriving at once) share one read of the others, batched as ``chat.groupcommit`` does: a
lone newcomer is listed at once, those arriving while a list is read share the next one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple, Protocol
from weakref import WeakKeyDictionary

from flask import Flask, current_app

from chat import groupcommit, payloads, store
from chat.groupcommit import GroupCommit
from chat.services import services


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


class Newcomer(NamedTuple):
    """A user the handshake just created, whose socket listens to presence already."""

    user_id: str
    username: str


_NEWCOMERS: WeakKeyDictionary[Flask, GroupCommit[Newcomer, list[dict[str, Any]]]] = (
    WeakKeyDictionary()
)


def newcomer_list(user_id: str, username: str) -> list[dict[str, Any]]:
    """The ``users`` event body for a user the handshake just created, as ``users_list``
    gives it, from one read shared with the newcomers that arrive with it.

    Its socket must have joined the presence listeners: the shared read is taken after
    every newcomer of its batch has, so none misses an arrival between list and event.
    """
    app = current_app._get_current_object()
    group = groupcommit.of_app(
        _NEWCOMERS, app, newcomer_lists, int(app.config["GROUP_COMMIT_SIZE"])
    )
    return group.submit(Newcomer(user_id, username))


def newcomers_of(app: Flask) -> GroupCommit[Newcomer, list[dict[str, Any]]] | None:
    """The app's newcomers' batches, once a user was created (tests count them)."""
    return _NEWCOMERS.get(app)


def newcomer_lists(batch: Sequence[Newcomer]) -> list[list[dict[str, Any]]]:
    """Each newcomer's users list, from one read: online users first, then others by
    name, as ``users_list`` chooses them; ends the read transaction."""
    limit = current_app.config["USERS_LIST_LIMIT"]
    presence = services().presence
    ids = {n.user_id for n in batch}
    # Newcomers count in presence only once listed; any that did are left out all the same.
    online_first = [u for u in presence.some(limit - 1 + len(ids)) if u not in ids][: limit - 1]
    # One more than a newcomer keeps: the one that finds itself listed drops itself, any
    # other the last by name (as users_list's own read, which leaves it out, would).
    listed = store.newcomer_listing(online_first, limit)
    online = presence.online([entry.user_id for entry in listed])
    shown = [(e.user_id, payloads.listed_user(e, e.user_id in online)) for e in listed]
    shown_ids = {uid for uid, _ in shown}
    chosen = set(online_first)
    spare = next((uid for uid, _ in reversed(shown) if uid not in chosen), None)
    lists = []
    for me, name in batch:
        drop = me if me in shown_ids else spare if len(shown) >= limit else None
        own = store.Listed.untouched(me, name, None)
        lists.append([payloads.listed_user(own, True)] + [e for uid, e in shown if uid != drop])
    return lists


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
