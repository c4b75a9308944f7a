"""Which other process holds which sockets: this process's copy of presence's placement.

Presence announces every socket it places or removes on its change channel (the Lua scripts
in ``chat/lua/presence_*.lua`` publish in the same atomic step as the change), and each
process replaces its copy of a peer's sockets when that peer rebuilds presence. With this
copy the message queue (``chat.messagequeue``) knows, without a Redis round trip, that an
emit has no recipient elsewhere, or which few processes have one.

Changes are JSON arrays: ``["+", proc, sid, uid]``, ``["-", proc, sid, uid]``,
``["=", proc, [[sid, uid], ...]]`` (all of that process's sockets) and ``["x", proc]``
(a dead process, purged).
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson


class Placement:
    """Where the sockets of every other process are, by user id and by socket id."""

    def __init__(self, me: str) -> None:
        self.me = me  # this process's own sockets are python-socketio's rooms, never here
        self._users: dict[str, dict[str, int]] = {}  # uid -> proc -> sockets there
        self._sids: dict[str, tuple[str, str]] = {}  # sid -> (proc, uid)
        self._procs: dict[str, set[str]] = {}  # proc -> sids

    def add(self, proc: str, sid: str, uid: str) -> None:
        """Records one socket of ``uid`` on ``proc``."""
        if proc == self.me or sid in self._sids:
            return
        self._sids[sid] = (proc, uid)
        self._procs.setdefault(proc, set()).add(sid)
        procs = self._users.setdefault(uid, {})
        procs[proc] = procs.get(proc, 0) + 1

    def remove(self, sid: str) -> None:
        """Forgets one socket, wherever it was."""
        placed = self._sids.pop(sid, None)
        if placed is None:
            return
        proc, uid = placed
        sids = self._procs[proc]
        sids.discard(sid)
        if not sids:
            del self._procs[proc]
        procs = self._users[uid]
        procs[proc] -= 1
        if not procs[proc]:
            del procs[proc]
            if not procs:
                del self._users[uid]

    def drop(self, proc: str) -> None:
        """Forgets every socket of ``proc``."""
        for sid in list(self._procs.get(proc, ())):
            self.remove(sid)

    def replace(self, proc: str, sockets: Iterable[tuple[str, str]]) -> None:
        """Makes ``sockets`` (sid, uid) the whole of what ``proc`` holds."""
        self.drop(proc)
        for sid, uid in sockets:
            self.add(proc, sid, uid)

    def merge(self, held: dict[str, list[tuple[str, str]]]) -> None:
        """Adds what Redis holds (``RedisPresence.placement``) and forgets nothing.

        After a restart of Redis its copy is empty until each process has rebuilt its own
        part; until then what this copy already knew is the better guess.
        """
        for proc, sockets in held.items():
            for sid, uid in sockets:
                self.add(proc, sid, uid)

    def apply(self, raw: bytes) -> None:
        """Applies one change published on presence's change channel."""
        change = orjson.loads(raw)
        op, proc = change[0], change[1]
        if op == "+":
            self.add(proc, change[2], change[3])
        elif op == "-":
            self.remove(change[2])
        elif op == "=":
            if proc != self.me:
                self.replace(proc, ((sid, uid) for sid, uid in change[2]))
        elif op == "x":
            self.drop(proc)

    def holders(self, room: str | list[str] | tuple[str, ...]) -> set[str]:
        """The other processes holding a socket in ``room`` (a user id or a sid), or in any
        of a list of rooms."""
        rooms = (room,) if isinstance(room, str) else room
        procs: set[str] = set()
        for r in rooms:
            procs.update(self._users.get(r, ()))
            placed = self._sids.get(r)
            if placed is not None:
                procs.add(placed[0])
        return procs

    def proc_of(self, sid: str) -> str | None:
        """The other process holding socket ``sid``, if known."""
        placed = self._sids.get(sid)
        return placed[0] if placed else None

    def procs(self) -> set[str]:
        """Every other process known to hold a socket."""
        return set(self._procs)
