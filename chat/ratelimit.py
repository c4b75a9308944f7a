"""Token-bucket rate limits, in memory for one process or in Redis shared by all."""

from __future__ import annotations

import math
import threading
import time

from chat import metrics

# KEYS: bucket. ARGV: rate per second, burst, now in ms. Returns ms to wait (0 = allowed).
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 't', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + (now - ts) * rate / 1000)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 't', tokens, 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return wait
"""


class MemoryLimiter:
    """Per-key token buckets in a dict; enough for one process."""

    def __init__(self, clock=time.monotonic) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def take(self, key: str, rate: float, burst: int) -> int:
        """Called before a limited action; 0 when allowed, else milliseconds to wait."""
        now = self._clock()
        with self._lock:
            tokens, ts = self._buckets.get(key, (float(burst), now))
            tokens = min(float(burst), tokens + (now - ts) * rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > 100_000:
                self._buckets.clear()  # bounded memory; a reset only forgives
            return math.ceil((1 - tokens) * 1000 / rate)


class RedisLimiter:
    """Token buckets in Redis so every process shares one limit per user."""

    def __init__(self, url: str, prefix: str = "chat:rl:") -> None:
        import redis

        # A blocking pool: under a burst of connects (a greenlet each) callers wait for one
        # of its connections; redis-py's default pool raises past 100 instead.
        pool = redis.BlockingConnectionPool.from_url(
            url, max_connections=50, timeout=2, socket_timeout=2, socket_connect_timeout=2
        )
        self.redis = redis.Redis(connection_pool=pool)
        self.prefix = prefix
        self._take = self.redis.register_script(_TAKE)
        self._fallback = MemoryLimiter()

    def take(self, key: str, rate: float, burst: int) -> int:
        """Called before a limited action; 0 when allowed, else milliseconds to wait."""
        import redis

        try:
            now_ms = int(time.time() * 1000)
            return int(self._take(keys=[self.prefix + key], args=[rate, burst, now_ms]))
        except redis.RedisError:
            # Redis down: keep limiting per process rather than refusing everyone.
            metrics.redis_error("ratelimit")
            return self._fallback.take(key, rate, burst)


def create(config: dict) -> MemoryLimiter | RedisLimiter:
    """Called by ``create_app``; Redis buckets when REDIS_URL is set, memory otherwise."""
    url = config.get("REDIS_URL")
    return RedisLimiter(url, prefix=f"{config['REDIS_PREFIX']}rl:") if url else MemoryLimiter()
