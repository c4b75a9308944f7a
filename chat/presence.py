"""Who is online: one API, kept in process memory or, with REDIS_URL, in Redis for every process."""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from chat import metrics

log = logging.getLogger(__name__)

Spawn = Callable[..., Any]
Announce = Callable[[str], None]


class MemoryPresence:
    """Single-process presence: the sockets of each user in a dict."""

    def __init__(self) -> None:
        self._sockets: dict[str, dict[str, int]] = defaultdict(dict)
        self._lock = threading.Lock()

    def connect(self, user_id: str, sid: str, session_id: int = 0) -> bool:
        """Called on every accepted socket; True when it is the user's first one."""
        with self._lock:
            first = not self._sockets[user_id]
            self._sockets[user_id][sid] = session_id
            return first

    def disconnect(self, user_id: str, sid: str) -> bool:
        """Called when a socket closes; True when it was the user's last one."""
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


# Keys, under the prefix: user:<uid> hash sid -> session id; proc:<proc> set "uid|sid" of one
# process; online set of uids; pending zset uid -> deadline (ms) of an offline announcement
# held back by a grace period; procs set of process ids; alive:<proc> heartbeat with a TTL.
# Each script is one atomic decision, so two processes can never both announce one change.
# Scripts reach user:<uid> keys through a prefix argument: a single Redis, not Redis Cluster.

# KEYS: user hash, proc set, online, pending. ARGV: sid, uid, session id.
# Returns 1 when the user went online (was neither online nor inside a grace period).
_CONNECT = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[2] .. '|' .. ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[2])
return redis.call('SADD', KEYS[3], ARGV[2])
"""

# KEYS: user hash, proc set, online, pending. ARGV: sid, uid, grace in ms.
# Returns 1 when the user went offline now; with a grace, the decision waits in pending.
_DISCONNECT = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('SREM', KEYS[2], ARGV[2] .. '|' .. ARGV[1])
if redis.call('HLEN', KEYS[1]) > 0 then return 0 end
local grace = tonumber(ARGV[3])
if grace > 0 and redis.call('SISMEMBER', KEYS[3], ARGV[2]) == 1 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('ZADD', KEYS[4], now + grace, ARGV[2])
  return 0
end
return redis.call('SREM', KEYS[3], ARGV[2])
"""

# KEYS: online, pending. ARGV: user-hash prefix. Returns the users whose grace ran out.
_RESOLVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local gone = {}
for _, uid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)) do
  redis.call('ZREM', KEYS[2], uid)
  if redis.call('HLEN', ARGV[1] .. uid) == 0 and redis.call('SREM', KEYS[1], uid) == 1 then
    table.insert(gone, uid)
  end
end
return gone
"""

# KEYS: dead proc set, online, pending, procs, dead alive key. ARGV: dead proc, user-hash prefix.
# Returns the users that went offline. A process that beat again in the meantime is spared.
_PURGE = """
if redis.call('EXISTS', KEYS[5]) == 1 then return {} end
local gone = {}
for _, entry in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local bar = string.find(entry, '|', 1, true)
  local uid = string.sub(entry, 1, bar - 1)
  local ukey = ARGV[2] .. uid
  redis.call('HDEL', ukey, string.sub(entry, bar + 1))
  if redis.call('HLEN', ukey) == 0 and not redis.call('ZSCORE', KEYS[3], uid)
      and redis.call('SREM', KEYS[2], uid) == 1 then
    table.insert(gone, uid)
  end
end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[4], ARGV[1])
return gone
"""

# KEYS: proc set, online, pending. ARGV: user-hash prefix, then (sid, uid, session id) triples.
# Puts this process's sockets back after Redis lost them; returns the users that came online.
_RESTORE = """
local came = {}
for i = 2, #ARGV, 3 do
  local sid, uid = ARGV[i], ARGV[i + 1]
  redis.call('HSET', ARGV[1] .. uid, sid, ARGV[i + 2])
  redis.call('SADD', KEYS[1], uid .. '|' .. sid)
  redis.call('ZREM', KEYS[3], uid)
  if redis.call('SADD', KEYS[2], uid) == 1 then table.insert(came, uid) end
end
return came
"""


# Heartbeats between two comparisons of this process's sockets with what Redis holds.
RECONCILE_EVERY = 12


class RedisPresence:
    """Cluster-wide presence: sockets per user in Redis, each process alive by a heartbeat key.

    This process's own sockets are also kept locally: they are the truth Redis is rebuilt
    from after an outage, a restart of Redis, or a purge of this process by mistake.
    """

    def __init__(
        self,
        url: str,
        prefix: str = "chat:presence:",
        heartbeat: float = 5,
        ttl: float = 15,
    ):
        import redis

        if ttl <= heartbeat:
            raise ValueError("PRESENCE_TTL_S must be longer than PRESENCE_HEARTBEAT_S")
        # A blocking pool: under a burst of connects (a greenlet each) callers wait for one
        # of its connections; redis-py's default pool raises past 100 instead.
        pool = redis.BlockingConnectionPool.from_url(
            url, max_connections=50, timeout=5, socket_timeout=5, socket_connect_timeout=5
        )
        self.redis = redis.Redis(connection_pool=pool)
        self.prefix = prefix
        self.proc = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.heartbeat = heartbeat
        self.ttl = ttl
        self.grace_ms = 0
        self._connect = self.redis.register_script(_CONNECT)
        self._disconnect = self.redis.register_script(_DISCONNECT)
        self._resolve = self.redis.register_script(_RESOLVE)
        self._purge = self.redis.register_script(_PURGE)
        self._restore = self.redis.register_script(_RESTORE)
        self._local: dict[str, tuple[str, int]] = {}  # sid -> (user id, session id)
        self._lost: set[str] = set()  # users whose last disconnect Redis never heard of
        self._dirty = False  # Redis missed something: rebuild on the next beat
        self._streak = 0  # heartbeats in a row that reached Redis
        self._running = False
        self._closed = False

    def _keys(self, user_id: str) -> list[str]:
        p = self.prefix
        return [f"{p}user:{user_id}", f"{p}proc:{self.proc}", f"{p}online", f"{p}pending"]

    def connect(self, user_id: str, sid: str, session_id: int = 0) -> bool:
        """Called on every accepted socket; True when it is the user's first one anywhere."""
        import redis

        self._local[sid] = (user_id, session_id)
        try:
            return bool(self._connect(keys=self._keys(user_id), args=[sid, user_id, session_id]))
        except redis.RedisError:
            log.warning("presence: Redis unreachable on connect user=%s", user_id)
            self._dirty = True
            return True

    def disconnect(self, user_id: str, sid: str) -> bool:
        """Called when a socket closes; True when it was the user's last one anywhere.

        While draining, a last socket only starts a grace period: the user is announced
        offline by whichever process notices it ran out, unless they came back first.
        """
        import redis

        self._local.pop(sid, None)
        try:
            args = [sid, user_id, self.grace_ms]
            return bool(self._disconnect(keys=self._keys(user_id), args=args))
        except redis.RedisError:
            log.warning("presence: Redis unreachable on disconnect user=%s", user_id)
            self._dirty = True
            self._lost.add(user_id)
            return False

    def online(self, user_ids: Iterable[str] | None = None) -> set[str]:
        """The online users across every process, optionally only among ``user_ids``."""
        import redis

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
        import redis

        try:
            return int(self.redis.scard(f"{self.prefix}online"))
        except redis.RedisError:
            return len(self._local_users())

    def some(self, limit: int) -> set[str]:
        """At most ``limit`` online users (a random sample when more are online)."""
        import redis

        try:
            return {m.decode() for m in self.redis.srandmember(f"{self.prefix}online", limit)}
        except redis.RedisError:
            return set(list(self._local_users())[:limit])

    def sids(self, user_id: str, session_id: int | None = None) -> set[str]:
        """The open sockets of one user, or of one of its sessions, on every process."""
        import redis

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
            if self._disconnect(keys=self._keys(uid), args=[sid, uid, self.grace_ms]):
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
            if self._disconnect(keys=self._keys(uid), args=[sid, uid, self.grace_ms]):
                gone.append(uid)
        lost, self._lost = list(self._lost), set()
        if lost:
            flags = self.redis.smismember(f"{p}online", lost)
            gone += [u for u, on in zip(lost, flags, strict=True) if not on and u not in gone]
        return gone, came

    def sweep(self) -> list[str]:
        """Purges processes whose heartbeat expired; returns the users that went offline."""
        p = self.prefix
        gone: list[str] = []
        for raw in self.redis.smembers(f"{p}procs"):
            proc = raw.decode()
            if proc == self.proc or self.redis.exists(f"{p}alive:{proc}"):
                continue
            keys = [f"{p}proc:{proc}", f"{p}online", f"{p}pending", f"{p}procs", f"{p}alive:{proc}"]
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
        import redis

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
        """Called once per process: heartbeat, grace periods and the purge of dead processes.

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
        """Called when this process shuts down: its users get ``grace_s`` to reconnect elsewhere."""
        self.grace_ms = int(grace_s * 1000)

    def close(self) -> None:
        """Stops the loop and gives up the heartbeat, so peers purge what is left at once."""
        import redis

        self._running = False
        self._closed = True
        with contextlib.suppress(redis.RedisError):  # else the heartbeat expires by itself
            self.redis.delete(f"{self.prefix}alive:{self.proc}")


def create(config: dict) -> MemoryPresence | RedisPresence:
    """Called by ``create_app``; Redis presence when REDIS_URL is set, memory otherwise."""
    url = config.get("REDIS_URL")
    if not url:
        return MemoryPresence()
    return RedisPresence(
        url,
        prefix=f"{config['REDIS_PREFIX']}presence:",
        heartbeat=float(config["PRESENCE_HEARTBEAT_S"]),
        ttl=float(config["PRESENCE_TTL_S"]),
    )
