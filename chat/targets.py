"""The one rule for an event's target (PROTOCOL.md B5): the userID of an existing user.

``typing {to}`` would otherwise be relayed to any room, another socket's id included
(python-socketio puts each socket in a room of its own id). ``chat.dispatch`` applies this
rule to every event that names a user (``handler(..., target=field)``), before the store.

Lookups are cached per process: a hit is a dict read, not a query. Only active users are
cached, and only for ``ttl`` seconds: an active user can become removed (its row stays, a
tombstone, which still exists) and only a tombstone can be deleted for good (by
``purge-messages``, in another process), so a cached "exists" is right for removed users
and at most ``ttl`` seconds stale for a tombstone deleted for good.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from chat import store

DETAIL = "no user has this userID"


class KnownUsers:
    """A bounded, expiring cache of active users' ids in front of the database."""

    def __init__(self, ttl: float = 300.0, size: int = 100_000, clock=time.monotonic) -> None:
        self.ttl = ttl
        self.size = size
        self._clock: Callable[[], float] = clock
        self._until: dict[str, float] = {}  # user id -> when its entry expires
        self._lock = threading.Lock()

    def exists(self, user_id: str) -> bool:
        """True when ``user_id`` names a user (a removed one included)."""
        now = self._clock()
        until = self._until.get(user_id)
        if until is not None and until > now:
            return True
        status = store.user_status(user_id)
        if status == "active":
            with self._lock:
                if len(self._until) >= self.size:
                    self._until.clear()  # bounded memory; a reset only costs queries
                self._until[user_id] = now + self.ttl
        return status is not None

    def forget(self, user_id: str) -> None:
        """Drops ``user_id`` from the cache: its row was deleted by this process."""
        with self._lock:
            self._until.pop(user_id, None)
