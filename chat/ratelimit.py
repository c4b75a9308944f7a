"""Token-bucket rate limits, in memory for one process or in Redis shared by all."""

from __future__ import annotations

import math
import threading
import time
from typing import Protocol

import redis

from chat import metrics
from chat.redisclient import lua


class Limiter(Protocol):
    """Per-key token buckets."""

    def take(self, key: str, rate: float, burst: int) -> int:
        """Takes a token from ``key``'s bucket: 0 when allowed, else milliseconds to wait."""
        ...


class MemoryLimiter:
    """Per-key token buckets in a dict; enough for one process."""

    def __init__(self, clock=time.monotonic) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def take(self, key: str, rate: float, burst: int) -> int:
        """Takes a token from ``key``'s bucket: 0 when allowed, else milliseconds to wait."""
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

    def __init__(self, client: redis.Redis, prefix: str = "chat:rl:") -> None:
        self.redis = client
        self.prefix = prefix
        self._take = self.redis.register_script(lua("take"))
        self._fallback = MemoryLimiter()

    def take(self, key: str, rate: float, burst: int) -> int:
        """Takes a token from ``key``'s bucket: 0 when allowed, else milliseconds to wait."""
        try:
            now_ms = int(time.time() * 1000)
            return int(self._take(keys=[self.prefix + key], args=[rate, burst, now_ms]))
        except redis.RedisError:
            # Redis down: keep limiting per process rather than refusing everyone.
            metrics.redis_error("ratelimit")
            return self._fallback.take(key, rate, burst)
