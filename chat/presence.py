"""Who is online: one API, kept in process memory or, with REDIS_URL, in Redis for every process."""

from __future__ import annotations

import itertools
import logging
import os
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable

log = logging.getLogger(__name__)


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

    def start(self, spawn: Callable, sleep: Callable, on_offline: Callable) -> None:
        """Nothing to sweep in one process."""

    def close(self) -> None:
        """Nothing to release."""


# KEYS: user hash, process set, online set. ARGV: sid, process id, user id, session id.
_CONNECT = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
redis.call('SADD', KEYS[2], ARGV[3] .. '|' .. ARGV[1])
if redis.call('HLEN', KEYS[1]) == 1 then
  redis.call('SADD', KEYS[3], ARGV[3])
  return 1
end
return 0
"""

_DISCONNECT = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('SREM', KEYS[2], ARGV[3] .. '|' .. ARGV[1])
if redis.call('HLEN', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[3], ARGV[3])
  return 1
end
return 0
"""

# KEYS: dead process set, online set, user-hash prefix (as a key name), process registry.
# ARGV: dead process id. Returns the users that went offline; runs once per dead process.
_PURGE = """
local gone = {}
local entries = redis.call('SMEMBERS', KEYS[1])
for _, entry in ipairs(entries) do
  local bar = string.find(entry, '|', 1, true)
  local uid = string.sub(entry, 1, bar - 1)
  local sid = string.sub(entry, bar + 1)
  local ukey = KEYS[3] .. uid
  redis.call('HDEL', ukey, sid)
  if redis.call('HLEN', ukey) == 0 and redis.call('SISMEMBER', KEYS[2], uid) == 1 then
    redis.call('SREM', KEYS[2], uid)
    table.insert(gone, uid)
  end
end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[4], ARGV[1])
return gone
"""


class RedisPresence:
    """Cluster-wide presence: sockets per user in Redis, each process alive by a heartbeat key."""

    def __init__(
        self, url: str, prefix: str = "chat:presence:", heartbeat: int = 10, ttl: int = 25
    ):
        import redis

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
        self._connect = self.redis.register_script(_CONNECT)
        self._disconnect = self.redis.register_script(_DISCONNECT)
        self._purge = self.redis.register_script(_PURGE)
        self._running = False

    def _keys(self, user_id: str) -> list[str]:
        p = self.prefix
        return [f"{p}user:{user_id}", f"{p}proc:{self.proc}", f"{p}online"]

    def connect(self, user_id: str, sid: str, session_id: int = 0) -> bool:
        """Called on every accepted socket; True when it is the user's first one anywhere."""
        args = [sid, self.proc, user_id, session_id]
        return bool(self._connect(keys=self._keys(user_id), args=args))

    def disconnect(self, user_id: str, sid: str) -> bool:
        """Called when a socket closes; True when it was the user's last one anywhere."""
        return bool(self._disconnect(keys=self._keys(user_id), args=[sid, self.proc, user_id]))

    def online(self, user_ids: Iterable[str] | None = None) -> set[str]:
        """The online users across every process, optionally only among ``user_ids``."""
        key = f"{self.prefix}online"
        if user_ids is None:
            return {m.decode() for m in self.redis.smembers(key)}
        ids = list(user_ids)
        if not ids:
            return set()
        flags = self.redis.smismember(key, ids)
        return {uid for uid, flag in zip(ids, flags, strict=True) if flag}

    def count(self) -> int:
        """How many users are online across every process."""
        return int(self.redis.scard(f"{self.prefix}online"))

    def some(self, limit: int) -> set[str]:
        """At most ``limit`` online users (a random sample when more are online)."""
        return {m.decode() for m in self.redis.srandmember(f"{self.prefix}online", limit)}

    def sids(self, user_id: str, session_id: int | None = None) -> set[str]:
        """The open sockets of one user, or of one of its sessions, on every process."""
        items = self.redis.hgetall(f"{self.prefix}user:{user_id}").items()
        want = None if session_id is None else str(session_id).encode()
        return {sid.decode() for sid, sess in items if want is None or sess == want}

    def _beat(self) -> None:
        p = self.prefix
        pipe = self.redis.pipeline()
        pipe.set(f"{p}alive:{self.proc}", 1, ex=self.ttl)
        pipe.sadd(f"{p}procs", self.proc)
        pipe.execute()

    def sweep(self) -> list[str]:
        """Purges processes whose heartbeat expired; returns the users that went offline."""
        p = self.prefix
        gone: list[str] = []
        for raw in self.redis.smembers(f"{p}procs"):
            proc = raw.decode()
            if proc == self.proc or self.redis.exists(f"{p}alive:{proc}"):
                continue
            users = self._purge(
                keys=[f"{p}proc:{proc}", f"{p}online", f"{p}user:", f"{p}procs"], args=[proc]
            )
            gone.extend(u.decode() for u in users)
        return gone

    def start(self, spawn: Callable, sleep: Callable, on_offline: Callable) -> None:
        """Called once per process: heartbeat and sweep of dead processes in the background."""
        if self._running:
            return
        self._running = True
        self._beat()

        def loop() -> None:
            while self._running:
                sleep(self.heartbeat)
                try:
                    self._beat()
                    for user_id in self.sweep():
                        on_offline(user_id)
                except Exception:
                    log.exception("presence heartbeat failed")

        spawn(loop)

    def close(self) -> None:
        """Stops the heartbeat (tests and shutdown)."""
        self._running = False


def create(config: dict) -> MemoryPresence | RedisPresence:
    """Called by ``create_app``; Redis presence when REDIS_URL is set, memory otherwise."""
    url = config.get("REDIS_URL")
    if not url:
        return MemoryPresence()
    return RedisPresence(
        url,
        prefix=f"{config['REDIS_PREFIX']}presence:",
        heartbeat=int(config["PRESENCE_HEARTBEAT_S"]),
        ttl=int(config["PRESENCE_TTL_S"]),
    )
