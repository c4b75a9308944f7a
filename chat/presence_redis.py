"""Cluster-wide presence in Redis: every process sees every socket, one decision per change.

The scripts that take each decision atomically are in ``chat/lua/presence_*.lua``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import orjson
import redis

from chat import metrics
from chat.groupcommit import GroupCommit
from chat.presence import Announce, Spawn
from chat.redisclient import lua

log = logging.getLogger(__name__)

# Keys, under the prefix: user:<uid> hash sid -> session id; proc:<proc> set "uid|sid" of one
# process; online set of uids; pending zset uid -> deadline (ms) of an offline announcement
# held back by a grace period; procs set of process ids; alive:<proc> heartbeat with a TTL.
# Channel <prefix>changes: every socket placed or removed, so that each process keeps a copy
# of where every socket is (chat/placement.py) and routes its emits without asking Redis.
# Each script is one atomic decision, so two processes can never both announce one change.
# Scripts reach user:<uid> keys through a prefix argument: a single Redis, not Redis Cluster.

# Heartbeats between two comparisons of this process's sockets with what Redis holds.
RECONCILE_EVERY = 12
# Sockets recorded by one script call at most: a script holds Redis for its whole run.
ARRIVALS_BATCH = 256


class RedisPresence:
    """Cluster-wide presence: sockets per user in Redis, each process alive by a heartbeat key.

    This process's own sockets are also kept locally: they are the truth Redis is rebuilt
    from after an outage, a restart of Redis, or a purge of this process by mistake.
    """

    def __init__(
        self,
        client: redis.Redis,
        prefix: str = "chat:presence:",
        heartbeat: float = 5,
        ttl: float = 15,
    ):
        if ttl <= heartbeat:
            raise ValueError("PRESENCE_TTL_S must be longer than PRESENCE_HEARTBEAT_S")
        self.redis = client
        self.prefix = prefix
        self.proc = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.heartbeat = heartbeat
        self.ttl = ttl
        self.grace_ms = 0
        self.changes = f"{prefix}changes"  # the channel of placement changes
        self._connect = self.redis.register_script(lua("presence_connect"))
        # The pause is time's zero sleep: gevent's under gunicorn, a thread's yield otherwise.
        pause = functools.partial(time.sleep, 0)
        self._arrivals = GroupCommit(self._connect_batch, ARRIVALS_BATCH, pause)
        self._disconnect = self.redis.register_script(lua("presence_disconnect"))
        self._resolve = self.redis.register_script(lua("presence_resolve"))
        self._purge = self.redis.register_script(lua("presence_purge"))
        self._restore = self.redis.register_script(lua("presence_restore"))
        self._local: dict[str, tuple[str, int]] = {}  # sid -> (user id, session id)
        self._lost: set[str] = set()  # users whose last disconnect Redis never heard of
        self._dirty = False  # Redis missed something: rebuild on the next beat
        self._streak = 0  # heartbeats in a row that reached Redis
        self._running = False
        self._closed = False

    def _keys(self, user_id: str) -> list[str]:
        p = self.prefix
        return [
            f"{p}user:{user_id}",
            f"{p}proc:{self.proc}",
            f"{p}online",
            f"{p}pending",
            self.changes,
        ]

    def connect(self, user_id: str, sid: str, session_id: int = 0) -> bool:
        """Records an accepted socket; True when it is the user's first one anywhere.

        The sockets of a burst reach Redis together, in one script call for those accepted
        while one runs (``chat.groupcommit``'s scheme: a lone socket's is sent at once).
        """
        self._local[sid] = (user_id, session_id)
        return self._arrivals.submit((user_id, sid, session_id))

    def _connect_batch(self, sockets: Sequence[tuple[str, str, int]]) -> list[bool]:
        p = self.prefix
        keys = [f"{p}proc:{self.proc}", f"{p}online", f"{p}pending", self.changes]
        keys += [f"{p}user:{user_id}" for user_id, _, _ in sockets]
        args: list[object] = [self.proc]
        for user_id, sid, session_id in sockets:
            args += [sid, user_id, session_id]
        try:
            return [bool(flag) for flag in self._connect(keys=keys, args=args)]
        except redis.RedisError:
            log.warning("presence: Redis unreachable on connect of %d sockets", len(sockets))
            self._dirty = True
            return [True] * len(sockets)

    def disconnect(self, user_id: str, sid: str) -> bool:
        """Forgets a closed socket; True when it was the user's last one anywhere.

        While draining, a last socket only starts a grace period: the user is announced
        offline by whichever process notices it ran out, unless they came back first.
        """
        self._local.pop(sid, None)
        try:
            args = [sid, user_id, self.grace_ms, self.proc]
            return bool(self._disconnect(keys=self._keys(user_id), args=args))
        except redis.RedisError:
            log.warning("presence: Redis unreachable on disconnect user=%s", user_id)
            self._dirty = True
            self._lost.add(user_id)
            return False

    def online(self, user_ids: Iterable[str] | None = None) -> set[str]:
        """The online users across every process, optionally only among ``user_ids``."""
        key = f"{self.prefix}online"
        try:
            if user_ids is None:
                return {m.decode() for m in self.redis.smembers(key)}
            ids = list(user_ids)
            if not ids:
                return set()
            flags = self.redis.smismember(key, ids)
        except redis.RedisError:
            # Degraded, not down: the users this process can see for itself.
            local = self._local_users()
            return local if user_ids is None else local & set(user_ids)
        return {uid for uid, flag in zip(ids, flags, strict=True) if flag}

    def _local_users(self) -> set[str]:
        return {uid for uid, _ in self._local.values()}

    def count(self) -> int:
        """How many users are online across every process (this one's, Redis being down)."""
        try:
            return int(self.redis.scard(f"{self.prefix}online"))
        except redis.RedisError:
            return len(self._local_users())

    def some(self, limit: int) -> set[str]:
        """At most ``limit`` online users (a random sample when more are online)."""
        try:
            return {m.decode() for m in self.redis.srandmember(f"{self.prefix}online", limit)}
        except redis.RedisError:
            return set(list(self._local_users())[:limit])

    def sids(self, user_id: str, session_id: int | None = None) -> set[str]:
        """The open sockets of one user, or of one of its sessions, on every process."""
        try:
            raw = self.redis.hgetall(self._keys(user_id)[0])
            items = [(k.decode(), int(v)) for k, v in raw.items()]
        except redis.RedisError:
            items = [(sid, sess) for sid, (uid, sess) in self._local.items() if uid == user_id]
        return {sid for sid, sess in items if session_id is None or sess == session_id}

    def _beat(self) -> bool:
        """Renews this process's heartbeat; True when Redis had forgotten the process."""
        p = self.prefix
        pipe = self.redis.pipeline()
        pipe.set(f"{p}alive:{self.proc}", 1, px=int(self.ttl * 1000))
        pipe.sadd(f"{p}procs", self.proc)
        return bool(pipe.execute()[1])

    def restore(self) -> tuple[list[str], list[str]]:
        """Makes Redis agree with this process's sockets; returns (went offline, came online)."""
        p = self.prefix
        gone: list[str] = []
        entries = {m.decode() for m in self.redis.smembers(f"{p}proc:{self.proc}")}
        local = dict(self._local)
        for entry in entries - {f"{uid}|{sid}" for sid, (uid, _) in local.items()}:
            uid, sid = entry.split("|", 1)
            if self._disconnect(keys=self._keys(uid), args=[sid, uid, self.grace_ms, self.proc]):
                gone.append(uid)
        args: list[object] = [f"{p}user:"]
        for sid, (uid, sess) in local.items():
            if f"{uid}|{sid}" not in entries:
                args += [sid, uid, sess]
        came = [
            u.decode()
            for u in self._restore(
                keys=[f"{p}proc:{self.proc}", f"{p}online", f"{p}pending"], args=args
            )
        ]
        # A socket that closed while the script ran may have been put back: take it out again.
        for sid in local.keys() - self._local.keys():
            uid = local[sid][0]
            if self._disconnect(keys=self._keys(uid), args=[sid, uid, self.grace_ms, self.proc]):
                gone.append(uid)
        self._announce_placement()
        lost, self._lost = list(self._lost), set()
        if lost:
            flags = self.redis.smismember(f"{p}online", lost)
            gone += [u for u, on in zip(lost, flags, strict=True) if not on and u not in gone]
        return gone, came

    def _announce_placement(self) -> None:
        """Tells every process the whole list of this one's sockets (it replaces their copy)."""
        sockets = [[sid, uid] for sid, (uid, _) in self._local.items()]
        self.redis.publish(self.changes, orjson.dumps(["=", self.proc, sockets]))

    def placement(self) -> dict[str, list[tuple[str, str]]]:
        """Every process's sockets as Redis holds them: proc -> [(sid, user id)]."""
        p = self.prefix
        procs = [raw.decode() for raw in self.redis.smembers(f"{p}procs")]
        pipe = self.redis.pipeline(transaction=False)
        for proc in procs:
            pipe.smembers(f"{p}proc:{proc}")
        held: dict[str, list[tuple[str, str]]] = {}
        for proc, entries in zip(procs, pipe.execute(), strict=True):
            pairs = (e.decode().split("|", 1) for e in entries)
            held[proc] = [(sid, uid) for uid, sid in pairs]
        return held

    def sweep(self) -> list[str]:
        """Purges processes whose heartbeat expired; returns the users that went offline."""
        p = self.prefix
        gone: list[str] = []
        for raw in self.redis.smembers(f"{p}procs"):
            proc = raw.decode()
            if proc == self.proc or self.redis.exists(f"{p}alive:{proc}"):
                continue
            keys = [
                f"{p}proc:{proc}",
                f"{p}online",
                f"{p}pending",
                f"{p}procs",
                f"{p}alive:{proc}",
                self.changes,
            ]
            users = self._purge(keys=keys, args=[proc, f"{p}user:"])
            if users:
                log.info("presence: purged dead process %s, %d users offline", proc, len(users))
            gone.extend(u.decode() for u in users)
        return gone

    def resolve(self) -> list[str]:
        """Ends the grace periods that ran out; returns the users that went offline."""
        p = self.prefix
        users = self._resolve(keys=[f"{p}online", f"{p}pending"], args=[f"{p}user:"])
        return [u.decode() for u in users]

    def tick(self, beat: bool = True) -> tuple[list[str], list[str]]:
        """One round of the background loop; returns (went offline, came online).

        Every round ends the grace periods that ran out; with ``beat``, it also renews the
        heartbeat, rebuilds Redis from this process's sockets if needed, and purges the dead.
        """
        gone: list[str] = []
        came: list[str] = []
        try:
            if beat and not self._closed:
                forgotten = self._beat()
                # Also every minute or so: anything Redis lost (a failover) comes back.
                if forgotten or self._dirty or self._streak % RECONCILE_EVERY == 0:
                    self._dirty = False
                    gone, came = self.restore()
                self._streak += 1
                # Right after an outage every heartbeat may have expired: wait until the
                # others have had a full interval to beat again before declaring anyone dead.
                if self._streak >= 3:
                    gone += self.sweep()
            gone += self.resolve()
        except redis.RedisError as exc:
            if self._streak:
                log.warning("presence: Redis unreachable, will resync: %s", exc)
            self._streak = 0
            self._dirty = True
        return gone, came

    def start(
        self, app: Any, spawn: Spawn, sleep: Callable, on_offline: Announce, on_online: Announce
    ) -> None:
        """Starts, once, the loop of heartbeats, grace periods and purges of dead processes.

        ``on_offline`` and ``on_online`` run inside ``app``'s context: they use the store.
        """
        if self._running:
            return
        self._running = True
        # Grace periods end within a second; heartbeats and sweeps every `heartbeat` seconds.
        step = min(1.0, self.heartbeat)

        def announce(callback: Announce, user_ids: list[str]) -> None:
            for user_id in user_ids:
                try:
                    with app.app_context():
                        callback(user_id)
                except Exception:
                    log.exception("presence: announcing user=%s failed", user_id)

        def loop() -> None:
            next_beat = 0.0
            while self._running:
                now = time.monotonic()
                beat = now >= next_beat
                if beat:
                    next_beat = now + self.heartbeat
                try:
                    gone, came = self.tick(beat)
                except Exception:  # a bug must not end presence for the life of the process
                    metrics.redis_error("presence")
                    log.exception("presence: background round failed")
                    gone, came = [], []
                announce(on_offline, gone)
                announce(on_online, came)
                sleep(step)

        spawn(loop)

    def drain(self, grace_s: float) -> None:
        """From now on a user's last socket closing leaves them ``grace_s`` to come back."""
        self.grace_ms = int(grace_s * 1000)

    def close(self) -> None:
        """Stops the loop and gives up the heartbeat, so peers purge what is left at once."""
        self._running = False
        self._closed = True
        with contextlib.suppress(redis.RedisError):  # else the heartbeat expires by itself
            self.redis.delete(f"{self.prefix}alive:{self.proc}")
