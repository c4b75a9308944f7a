"""Who is online: the ``Presence`` interface, and its implementation in one process's memory.

The Redis implementation, shared by every process, is ``chat.presence_redis.RedisPresence``;
``chat.services`` picks one of the two for the app.
"""

from __future__ import annotations

import itertools
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any, Protocol

Spawn = Callable[..., Any]
Announce = Callable[[str], None]

# The room every accepted socket joins just before its users list is read: presence meant
# for everyone goes there, not to sockets still in their handshake, whose lists are read
# later and show the change anyway. Not a userID (hex) nor a sid.
LISTENERS = "~listeners"


class Presence(Protocol):
    """The sockets of each online user; ``connect`` and ``disconnect`` decide the changes."""

    def connect(self, user_id: str, sid: str, session_id: int = 0) -> bool:
        """Records an accepted socket; True when it is the user's first one anywhere."""
        ...

    def disconnect(self, user_id: str, sid: str) -> bool:
        """Forgets a closed socket; True when it was the user's last one anywhere."""
        ...

    def online(self, user_ids: Iterable[str] | None = None) -> set[str]:
        """The online users, optionally only among ``user_ids``."""
        ...

    def count(self) -> int:
        """How many users are online."""
        ...

    def some(self, limit: int) -> set[str]:
        """At most ``limit`` online users, whichever are cheapest to find."""
        ...

    def sids(self, user_id: str, session_id: int | None = None) -> set[str]:
        """The open sockets of one user, or of one of its sessions."""
        ...

    def start(
        self, app: Any, spawn: Spawn, sleep: Callable, on_offline: Announce, on_online: Announce
    ) -> None:
        """Starts the background work once per process; callbacks run in ``app``'s context."""
        ...

    def drain(self, grace_s: float) -> None:
        """This process is shutting down: its users get ``grace_s`` to reconnect elsewhere."""
        ...

    def close(self) -> None:
        """Stops the background work and releases what this process holds."""
        ...


class MemoryPresence:
    """Single-process presence: the sockets of each user in a dict."""

    def __init__(self) -> None:
        self._sockets: dict[str, dict[str, int]] = defaultdict(dict)
        self._lock = threading.Lock()

    def connect(self, user_id: str, sid: str, session_id: int = 0) -> bool:
        """Records an accepted socket; True when it is the user's first one."""
        with self._lock:
            first = not self._sockets[user_id]
            self._sockets[user_id][sid] = session_id
            return first

    def disconnect(self, user_id: str, sid: str) -> bool:
        """Forgets a closed socket; True when it was the user's last one."""
        with self._lock:
            sids = self._sockets.get(user_id)
            if not sids or sid not in sids:
                return False
            del sids[sid]
            if sids:
                return False
            del self._sockets[user_id]
            return True

    def online(self, user_ids: Iterable[str] | None = None) -> set[str]:
        """The online users, optionally only among ``user_ids``."""
        with self._lock:
            if user_ids is not None:
                # Cost of the question, not of everyone online: a connect asks about ~200.
                return {u for u in user_ids if self._sockets.get(u)}
            return {u for u, s in self._sockets.items() if s}

    def count(self) -> int:
        """How many users are online."""
        with self._lock:
            return len(self._sockets)

    def some(self, limit: int) -> set[str]:
        """At most ``limit`` online users, whichever are cheapest to find."""
        with self._lock:
            return set(itertools.islice(self._sockets, limit))

    def sids(self, user_id: str, session_id: int | None = None) -> set[str]:
        """The open sockets of one user, or of one of its sessions."""
        with self._lock:
            items = self._sockets.get(user_id, {}).items()
            return {sid for sid, sess in items if session_id is None or sess == session_id}

    def start(
        self, app: Any, spawn: Spawn, sleep: Callable, on_offline: Announce, on_online: Announce
    ) -> None:
        """Nothing to sweep in one process."""

    def drain(self, grace_s: float) -> None:
        """One process has nobody to hand its users over to: announce at once, as always."""

    def close(self) -> None:
        """Nothing to release."""
